/**
 * Node warns (DEP0123) whenever a TLS client sends an IP address as the
 * server name, which grpc-js does for every `--tls --address 127.0.0.1:...`.
 * The warning is for grpc-js's authors, not for someone typing a command, so
 * the CLI process drops that one warning; every other warning still prints.
 * The library never touches process-wide warnings.
 */
export function suppressIpServernameWarning(): void {
  const emitWarning = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((warning: unknown, ...rest: unknown[]) => {
    // Called as (warning, type, code) or (warning, { type, code }).
    const [typeOrOptions, code] = rest;
    const given = typeof typeOrOptions === 'object' && typeOrOptions !== null ? (typeOrOptions as { code?: unknown }).code : code;
    if (given === 'DEP0123') return;
    emitWarning(warning, ...rest);
  });
}
