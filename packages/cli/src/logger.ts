// pino logs: JSON lines, or on a terminal (--log-format pretty) one readable line per record.
import { pino, type Logger } from 'pino';
import { Writable } from 'node:stream';

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const OMIT = new Set(['level', 'time', 'pid', 'hostname', 'msg']);

/** Formats pino's JSON records as "HH:MM:SS LEVEL message key=value ..." on the given stream. */
function prettyStream(out: NodeJS.WritableStream): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) {
        if (line === '') continue;
        const record = JSON.parse(line) as Record<string, unknown>;
        const time = new Date(Number(record.time)).toTimeString().slice(0, 8);
        const fields = Object.entries(record)
          .filter(([k]) => !OMIT.has(k))
          .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
          .join(' ');
        out.write(
          `${time} ${LEVELS[Number(record.level)] ?? record.level} ${record.msg}${fields ? ` ${fields}` : ''}\n`,
        );
      }
      done();
    },
  });
}

export function makeLogger(format: 'pretty' | 'json', quiet: boolean): Logger {
  const level = quiet ? 'warn' : 'info';
  if (format === 'json') return pino({ level, base: undefined }, pino.destination({ fd: 2, sync: true }));
  return pino({ level, base: undefined }, prettyStream(process.stderr));
}
