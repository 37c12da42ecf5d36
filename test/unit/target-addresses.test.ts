import { describe, expect, it } from 'vitest';
import { dnsName, listedReplicas, resolvedReplica } from '../../src/client/target-addresses.js';

describe('reading a target for job routing', () => {
  it('lists each entry of an ipv4: or ipv6: list as a replica of its own, once', () => {
    expect(listedReplicas('ipv4:10.0.0.1:50051, 10.0.0.2:50051,10.0.0.1:50051')).toEqual([
      { key: '10.0.0.1:50051', target: 'ipv4:10.0.0.1:50051' },
      { key: '10.0.0.2:50051', target: 'ipv4:10.0.0.2:50051' },
    ]);
    expect(listedReplicas('ipv6:[::1]:5001,[::1]:5002')).toEqual([
      { key: '[::1]:5001', target: 'ipv6:[::1]:5001' },
      { key: '[::1]:5002', target: 'ipv6:[::1]:5002' },
    ]);
  });

  it('reads the name and port of a dns: target, with or without an authority, and 443 without a port, as grpc-js dials', () => {
    expect(dnsName('dns:offload-headless:50051')).toEqual({ host: 'offload-headless', port: 50051 });
    expect(dnsName('dns:///offload-headless.default.svc.cluster.local:50051')).toEqual({ host: 'offload-headless.default.svc.cluster.local', port: 50051 });
    expect(dnsName('dns://8.8.8.8/offload.example')).toEqual({ host: 'offload.example', port: 443 });
    expect(dnsName('dns:[::1]:7000')).toEqual({ host: '::1', port: 7000 });
  });

  it('treats any other target as one address', () => {
    for (const target of ['127.0.0.1:50051', 'offload:50051', 'unix:/tmp/offload.sock']) {
      expect(listedReplicas(target)).toBeUndefined();
      expect(dnsName(target)).toBeUndefined();
    }
  });

  it('dials a resolved address by its family', () => {
    expect(resolvedReplica('10.1.2.3', 4, 50051)).toEqual({ key: '10.1.2.3:50051', target: 'ipv4:10.1.2.3:50051' });
    expect(resolvedReplica('fd00::7', 6, 50051)).toEqual({ key: '[fd00::7]:50051', target: 'ipv6:[fd00::7]:50051' });
  });
});
