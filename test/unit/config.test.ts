import { createPrivateKey } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { createTestCertificates, type TestCertificates } from '../helpers/certificates.js';

describe('loadConfig', () => {
  it('uses the documented defaults when nothing is given', () => {
    const config = loadConfig([], {});
    expect(config.host).toBe('127.0.0.1');
    expect(config.port).toBe(50051);
    expect(config.workers).toBeGreaterThan(0);
    expect(config.maxQueue).toBe(16 * config.workers);
    expect(config.cancelGraceMs).toBe(500);
    expect(config.maxMessageBytes).toBe(64 * 1024 * 1024);
    expect(config.taskDirs).toEqual([]);
  });

  it('reads every flag from its OFFLOAD_ variable, and a flag beats the variable', () => {
    const env = { OFFLOAD_PORT: '7000', OFFLOAD_WORKERS: '3', OFFLOAD_MAX_QUEUE: '5', OFFLOAD_TASKS: 'a, b', OFFLOAD_HOST: '0.0.0.0' };
    const config = loadConfig(['--workers', '4'], env);
    expect(config).toMatchObject({ port: 7000, workers: 4, maxQueue: 5, taskDirs: ['a', 'b'], host: '0.0.0.0' });
  });

  it('accepts --tasks more than once', () => {
    expect(loadConfig(['--tasks', 'x', '--tasks', 'y'], {}).taskDirs).toEqual(['x', 'y']);
  });

  it('returns a frozen object', () => {
    expect(Object.isFrozen(loadConfig([], {}))).toBe(true);
  });

  it.each([
    [['--workers', '0'], '--workers must be a positive integer (got "0")'],
    [['--workers', 'two'], '--workers must be a positive integer (got "two")'],
    [['--workers', '1.5'], '--workers must be a positive integer (got "1.5")'],
    [['--workers', '5000'], '--workers must be at most 1024 (got "5000")'],
    [['--port', '70000'], '--port must be at most 65535 (got "70000")'],
    [['--max-queue=-1'], '--max-queue must be a non-negative integer (got "-1")'],
    [['--max-queue', '-1'], '--max-queue must be a non-negative integer (got "-1")'],
    [['--port', '-80'], '--port must be a non-negative integer (got "-80")'],
    [['--max-queue'], '--max-queue needs a value'],
    [['--tasks', '--workers', '2'], '--tasks needs a value'],
    [['--host', ''], '--host must not be empty'],
    [['--log-level', 'loud'], '--log-level must be one of fatal, error, warn, info, debug, trace, silent (got "loud")'],
  ])('rejects %j with an exact message', (argv, message) => {
    expect(() => loadConfig(argv, {})).toThrow(new ConfigError(message));
  });

  it('names the environment variable when the bad value came from it', () => {
    expect(() => loadConfig([], { OFFLOAD_WORKERS: '-2' })).toThrow('OFFLOAD_WORKERS must be a positive integer');
  });

  it('rejects an unknown flag, pointing at the help', () => {
    expect(() => loadConfig(['--wrokers', '2'], {})).toThrow(new ConfigError('unknown flag --wrokers; see offload serve --help'));
    expect(() => loadConfig(['--wrokers=2'], {})).toThrow(new ConfigError('unknown flag --wrokers; see offload serve --help'));
  });

  it('rejects an argument that is not a flag', () => {
    expect(() => loadConfig(['8080'], {})).toThrow(new ConfigError('unexpected argument "8080"; offload serve takes only flags (see offload serve --help)'));
  });
});

describe('loadConfig: tracing', () => {
  it('is off unless asked for', () => {
    expect(loadConfig([], {}).tracing).toBe(false);
  });

  it('is on with --otel, with OFFLOAD_OTEL=true, and when OTEL_TRACES_EXPORTER names an exporter', () => {
    expect(loadConfig(['--otel'], {}).tracing).toBe(true);
    expect(loadConfig([], { OFFLOAD_OTEL: 'true' }).tracing).toBe(true);
    expect(loadConfig([], { OTEL_TRACES_EXPORTER: 'otlp' }).tracing).toBe(true);
    expect(loadConfig([], { OTEL_TRACES_EXPORTER: 'console,otlp' }).tracing).toBe(true);
  });

  it('stays off when OTEL_TRACES_EXPORTER is none, or when OFFLOAD_OTEL=false says so whatever the exporter', () => {
    expect(loadConfig([], { OTEL_TRACES_EXPORTER: 'none' }).tracing).toBe(false);
    expect(loadConfig([], { OFFLOAD_OTEL: 'false', OTEL_TRACES_EXPORTER: 'otlp' }).tracing).toBe(false);
  });

  it.each([
    [['--otel'], { OTEL_TRACES_EXPORTER: 'none' }, '--otel asks for traces, but OTEL_TRACES_EXPORTER is "none"'],
    [[], { OFFLOAD_OTEL: 'yes please' }, 'OFFLOAD_OTEL must be true or false (got "yes please")'],
    [['--otel=1'], {}, '--otel takes no value (got "1")'],
  ])('rejects %j with %j with an exact message', (argv, env, message) => {
    expect(() => loadConfig(argv, env)).toThrow(new ConfigError(message));
  });
});

describe('loadConfig: the dashboard', () => {
  it('comes with the metrics port, and is not there without one', () => {
    expect(loadConfig([], {})).toMatchObject({ metricsPort: undefined, dashboard: false });
    expect(loadConfig(['--metrics-port', '9100'], {})).toMatchObject({ metricsPort: 9100, dashboard: true });
  });

  it('opens the metrics port on 9464 when asked for alone, and on the given port with --metrics-port', () => {
    expect(loadConfig(['--dashboard'], {})).toMatchObject({ metricsPort: 9464, dashboard: true });
    expect(loadConfig([], { OFFLOAD_DASHBOARD: 'true' })).toMatchObject({ metricsPort: 9464, dashboard: true });
    expect(loadConfig(['--dashboard', '--metrics-port', '0'], {})).toMatchObject({ metricsPort: 0, dashboard: true });
  });

  it('keeps the metrics port to /metrics with OFFLOAD_DASHBOARD=false, and opens nothing with it alone', () => {
    expect(loadConfig(['--metrics-port', '9100'], { OFFLOAD_DASHBOARD: 'false' })).toMatchObject({ metricsPort: 9100, dashboard: false });
    expect(loadConfig([], { OFFLOAD_DASHBOARD: 'false' })).toMatchObject({ metricsPort: undefined, dashboard: false });
  });

  it.each([
    [[], { OFFLOAD_DASHBOARD: 'on' }, 'OFFLOAD_DASHBOARD must be true or false (got "on")'],
    [['--dashboard=9000'], {}, '--dashboard takes no value (got "9000")'],
    [['--dashboard', '--port', '9464'], {}, '--metrics-port must differ from --port'],
  ])('rejects %j with %j with an exact message', (argv, env, message) => {
    expect(() => loadConfig(argv, env)).toThrow(new ConfigError(message));
  });
});

describe('loadConfig: TLS files', () => {
  let certs: TestCertificates;
  /** Writes `contents` to a file in the temporary directory; returns its path. */
  const write = async (name: string, contents: string | Buffer): Promise<string> => {
    const path = join(certs.dir, name);
    await writeFile(path, contents);
    return path;
  };
  const fails = (argv: string[], message: string, env: NodeJS.ProcessEnv = {}): void => {
    expect(() => loadConfig(argv, env)).toThrow(new ConfigError(message));
  };
  beforeAll(async () => {
    certs = await createTestCertificates();
  });
  afterAll(async () => certs?.cleanup());

  it('serves plaintext when no TLS flag is given', () => {
    expect(loadConfig([], {}).tls).toBeUndefined();
  });

  it('reads the certificate and key, and the client CA for mutual TLS', () => {
    const tls = loadConfig(['--tls-cert', certs.server.cert.path, '--tls-key', certs.server.key.path], {}).tls;
    expect(tls).toEqual({ cert: certs.server.cert.pem, key: certs.server.key.pem, clientCa: undefined });
    expect(Object.isFrozen(tls)).toBe(true);
    const env = { OFFLOAD_TLS_CERT: certs.server.cert.path, OFFLOAD_TLS_KEY: certs.server.key.path, OFFLOAD_TLS_CLIENT_CA: certs.ca.cert.path };
    expect(loadConfig([], env).tls?.clientCa).toEqual(certs.ca.cert.pem);
  });

  it('accepts a certificate chain and a CA bundle', async () => {
    const chain = await write('chain.pem', Buffer.concat([certs.server.cert.pem, certs.ca.cert.pem]));
    const bundle = await write('bundle.pem', Buffer.concat([certs.ca.cert.pem, certs.untrustedCa.cert.pem]));
    const tls = loadConfig(['--tls-cert', chain, '--tls-key', certs.server.key.path, '--tls-client-ca', bundle], {}).tls;
    expect(tls?.clientCa?.toString()).toMatch(/(BEGIN CERTIFICATE[^]*){2}/);
  });

  it('rejects --tls-cert without --tls-key, and the other way round', () => {
    fails(['--tls-cert', certs.server.cert.path], '--tls-cert and --tls-key must be given together');
    fails(['--tls-key', certs.server.key.path], '--tls-cert and --tls-key must be given together');
    fails(['--tls-client-ca', certs.ca.cert.path], '--tls-cert and --tls-key must be given together');
  });

  it('rejects a file it cannot read, naming the flag or variable and the reason', async () => {
    const missing = join(certs.dir, 'missing.pem');
    fails(['--tls-cert', missing, '--tls-key', certs.server.key.path], `--tls-cert: cannot read ${missing} (ENOENT)`);
    fails(['--tls-cert', certs.server.cert.path], `OFFLOAD_TLS_KEY: cannot read ${missing} (ENOENT)`, { OFFLOAD_TLS_KEY: missing });
    const directory = join(certs.dir, 'a-directory');
    await mkdir(directory);
    fails(
      ['--tls-cert', certs.server.cert.path, '--tls-key', certs.server.key.path, '--tls-client-ca', directory],
      `--tls-client-ca: cannot read ${directory} (EISDIR)`,
    );
  });

  it('rejects a certificate file that holds no PEM certificate', async () => {
    const text = await write('not-a-cert.pem', 'hello, I am not a certificate\n');
    fails(['--tls-cert', text, '--tls-key', certs.server.key.path], `--tls-cert: ${text} is not a PEM certificate`);
    fails(['--tls-cert', certs.server.key.path, '--tls-key', certs.server.key.path], `--tls-cert: ${certs.server.key.path} is not a PEM certificate`);
    const der = await write('cert.der', Buffer.from(certs.server.cert.pem.toString().replace(/-----[A-Z ]+-----|\s/g, ''), 'base64'));
    fails(['--tls-key', certs.server.key.path], `OFFLOAD_TLS_CERT: ${der} is not a PEM certificate`, { OFFLOAD_TLS_CERT: der });
  });

  it('rejects a PEM certificate whose contents do not parse', async () => {
    const broken = await write('broken.pem', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    fails(['--tls-cert', broken, '--tls-key', certs.server.key.path], `--tls-cert: ${broken} is not a PEM certificate`);
    fails(
      ['--tls-cert', certs.server.cert.path, '--tls-key', certs.server.key.path, '--tls-client-ca', broken],
      `--tls-client-ca: ${broken} is not a PEM certificate`,
    );
    const halfBroken = await write('half-broken.pem', Buffer.concat([certs.ca.cert.pem, Buffer.from('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n')]));
    fails(
      ['--tls-cert', certs.server.cert.path, '--tls-key', certs.server.key.path, '--tls-client-ca', halfBroken],
      `--tls-client-ca: ${halfBroken} is not a PEM certificate`,
    );
  });

  it('rejects a key file that holds no usable PEM private key', async () => {
    fails(['--tls-cert', certs.server.cert.path, '--tls-key', certs.server.cert.path], `--tls-key: ${certs.server.cert.path} is not a PEM private key`);
    const broken = await write('broken.key', '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n');
    fails(['--tls-cert', certs.server.cert.path, '--tls-key', broken], `--tls-key: ${broken} is not a PEM private key`);
  });

  it('rejects an encrypted private key', async () => {
    const encrypted = createPrivateKey(certs.server.key.pem).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret' });
    const path = await write('encrypted.key', encrypted);
    fails(['--tls-cert', certs.server.cert.path, '--tls-key', path], `--tls-key: ${path} is encrypted; offload needs an unencrypted private key`);
    const traditional = createPrivateKey(certs.server.key.pem).export({ type: 'sec1', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret' });
    const old = await write('encrypted-sec1.key', traditional);
    fails(['--tls-cert', certs.server.cert.path, '--tls-key', old], `--tls-key: ${old} is encrypted; offload needs an unencrypted private key`);
  });

  it('rejects a key that does not belong to the certificate', () => {
    fails(
      ['--tls-cert', certs.server.cert.path, '--tls-key', certs.client.key.path],
      `--tls-key: ${certs.client.key.path} is not the private key of the certificate in ${certs.server.cert.path}`,
    );
  });
});

describe('loadConfig: the token file', () => {
  let certs: TestCertificates;
  const tokenFile = async (name: string, contents: string | Buffer): Promise<string> => {
    const path = join(certs.dir, name);
    await writeFile(path, contents);
    return path;
  };
  beforeAll(async () => {
    certs = await createTestCertificates();
  });
  afterAll(async () => certs?.cleanup());

  it('means no authentication when not given', () => {
    expect(loadConfig([], {})).toMatchObject({ auth: [], tenantWeights: new Map() });
  });

  it('reads one token per line, skipping blank lines and # comments, with CRLF and a byte-order mark', async () => {
    const path = await tokenFile('tokens', '\ufeff# ops tokens\r\n\r\n  first-token  \r\nsecond.token_2\n   # indented comment\n\nthird~token/=+\n');
    const config = loadConfig(['--auth-token-file', path], {});
    expect(config.auth.map((entry) => entry.token)).toEqual(['first-token', 'second.token_2', 'third~token/=+']);
    expect(Object.isFrozen(config.auth)).toBe(true);
    expect(loadConfig([], { OFFLOAD_AUTH_TOKEN_FILE: path }).auth).toHaveLength(3);
  });

  it('rejects an empty token file, or one with only comments and blank lines', async () => {
    const empty = await tokenFile('empty', '');
    expect(() => loadConfig(['--auth-token-file', empty], {})).toThrow(new ConfigError(`--auth-token-file: ${empty} holds no tokens`));
    const comments = await tokenFile('comments', '# nothing here yet\n\n   \n#another\n');
    expect(() => loadConfig([], { OFFLOAD_AUTH_TOKEN_FILE: comments })).toThrow(
      new ConfigError(`OFFLOAD_AUTH_TOKEN_FILE: ${comments} holds no tokens`),
    );
  });

  it('rejects a token file it cannot read', () => {
    const missing = join(certs.dir, 'no-such-tokens');
    expect(() => loadConfig(['--auth-token-file', missing], {})).toThrow(new ConfigError(`--auth-token-file: cannot read ${missing} (ENOENT)`));
  });

  it('rejects a line with two tokens on it', async () => {
    const path = await tokenFile('spaces', 'one two\n');
    expect(() => loadConfig(['--auth-token-file', path], {})).toThrow(
      new ConfigError('--auth-token-file: a token may not contain spaces (one token per line)'),
    );
  });

  it('rejects a token no gRPC client could send', async () => {
    const path = await tokenFile('unicode', 'ok-token\ntöken\n');
    expect(() => loadConfig(['--auth-token-file', path], {})).toThrow(
      new ConfigError('--auth-token-file: a token may only contain printable ASCII characters'),
    );
  });
});
