// The NATS flags `dtrain launch --nats` and `dtrain worker` share: where the server is and how to
// authenticate (secrets also from DTRAIN_NATS_* variables, so they stay out of `ps`).
import { authFromEnvironment, ConfigError, NATS_ENV, type NatsAuth } from '@dtrain/coordinator';
import type { Command } from 'commander';

export interface NatsFlags {
  token?: string;
  user?: string;
  password?: string;
  creds?: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
}

export function addNatsAuthOptions(command: Command): Command {
  return command
    .option('--token <token>', `NATS token (or ${NATS_ENV.token})`)
    .option('--user <name>', `NATS user (or ${NATS_ENV.user})`)
    .option('--password <password>', `NATS password (or ${NATS_ENV.password})`)
    .option('--creds <file>', `NATS credentials file, NKEY/JWT (or ${NATS_ENV.credsFile})`)
    .option('--tls-ca <file>', "CA certificate that signed the NATS server's")
    .option('--tls-cert <file>', 'client certificate, where the server asks for one')
    .option('--tls-key <file>', "the client certificate's key");
}

export function natsAuth(flags: NatsFlags): NatsAuth {
  const auth = authFromEnvironment({
    token: flags.token,
    user: flags.user,
    password: flags.password,
    credsFile: flags.creds,
  });
  if (flags.tlsCa !== undefined || flags.tlsCert !== undefined || flags.tlsKey !== undefined) {
    if ((flags.tlsCert === undefined) !== (flags.tlsKey === undefined))
      throw new ConfigError('--tls-cert and --tls-key go together');
    auth.tls = { caFile: flags.tlsCa, certFile: flags.tlsCert, keyFile: flags.tlsKey };
  }
  for (const key of Object.keys(auth) as (keyof NatsAuth)[]) if (auth[key] === undefined) delete auth[key];
  return auth;
}
