import { describe, expect, it } from 'vitest';
import { CliError } from '../../src/cli/cli-error.js';
import { addDefaultPort, clientTarget } from '../../src/cli/client-flags.js';

describe('addDefaultPort', () => {
  it.each([
    ['127.0.0.1', '127.0.0.1:50051'],
    ['localhost', 'localhost:50051'],
    ['127.0.0.1:', '127.0.0.1:50051'],
    ['[::1]', '[::1]:50051'],
    ['::1', '[::1]:50051'],
    ['ipv4:10.0.0.1,10.0.0.2:7000', 'ipv4:10.0.0.1:50051,10.0.0.2:7000'],
    ['ipv6:[::1],[::2]:7000', 'ipv6:[::1]:50051,[::2]:7000'],
    ['dns:offload.svc', 'dns:offload.svc:50051'],
    ['dns:///offload-headless', 'dns:///offload-headless:50051'],
    ['dns://8.8.8.8/offload.example.com', 'dns://8.8.8.8/offload.example.com:50051'],
  ])('gives %s offload\'s port: %s', (target, expected) => {
    expect(addDefaultPort(target)).toBe(expected);
  });

  it.each(['127.0.0.1:7000', 'localhost:7000', '[::1]:7000', 'ipv4:10.0.0.1:1,10.0.0.2:2', 'dns:///offload-headless:7000', 'unix:/run/offload.sock', 'unix:relative.sock'])(
    'leaves %s as it is',
    (target) => {
      expect(addDefaultPort(target)).toBe(target);
    },
  );
});

describe('clientTarget', () => {
  it('applies the default port to --address and to OFFLOAD_ADDRESS', () => {
    expect(clientTarget({ address: '127.0.0.1' }, {}).address).toBe('127.0.0.1:50051');
    expect(clientTarget({}, { OFFLOAD_ADDRESS: 'offload.internal' }).address).toBe('offload.internal:50051');
    expect(clientTarget({}, {}).address).toBe('127.0.0.1:50051');
  });
});

describe('clientTarget: the tenant', () => {
  it('takes --tenant, else OFFLOAD_TENANT, and sends none when neither is given', () => {
    expect(clientTarget({ tenant: 'team-a' }, { OFFLOAD_TENANT: 'team-b' }).options.tenant).toBe('team-a');
    expect(clientTarget({}, { OFFLOAD_TENANT: 'team-b' }).options.tenant).toBe('team-b');
    expect(clientTarget({}, { OFFLOAD_TENANT: '' }).options).not.toHaveProperty('tenant');
    expect(clientTarget({}, {}).options).not.toHaveProperty('tenant');
  });

  it('refuses a name the server would refuse, naming where it came from', () => {
    expect(() => clientTarget({ tenant: 'bad tenant!' }, {})).toThrow(
      new CliError('--tenant must be 1 to 64 characters of A-Z, a-z, 0-9, ".", "_" or "-" (got "bad tenant!")'),
    );
    expect(() => clientTarget({ tenant: '' }, {})).toThrow(new CliError('--tenant must be 1 to 64 characters of A-Z, a-z, 0-9, ".", "_" or "-" (got "")'));
    const long = 'n'.repeat(65);
    expect(() => clientTarget({}, { OFFLOAD_TENANT: long })).toThrow(
      new CliError(`OFFLOAD_TENANT must be 1 to 64 characters of A-Z, a-z, 0-9, ".", "_" or "-" (got "${long}")`),
    );
  });
});
