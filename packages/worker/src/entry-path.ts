// Where piscina finds a compiled thread entry of this package.
import { fileURLToPath } from 'node:url';

/**
 * The compiled thread entry `entry` (a path under dist, no extension). Under a test runner that
 * loads these sources directly, it is taken from the package's build output (worker threads run
 * JavaScript only).
 */
export function threadEntryPath(entry = 'threads/thread-entry'): string {
  const fromSources = import.meta.url.endsWith('.ts');
  return fileURLToPath(new URL(fromSources ? `../dist/${entry}.js` : `./${entry}.js`, import.meta.url));
}
