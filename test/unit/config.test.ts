import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

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
    [['--host', ''], '--host must not be empty'],
    [['--log-level', 'loud'], '--log-level must be one of fatal, error, warn, info, debug, trace, silent (got "loud")'],
  ])('rejects %j with an exact message', (argv, message) => {
    expect(() => loadConfig(argv, {})).toThrow(new ConfigError(message));
  });

  it('names the environment variable when the bad value came from it', () => {
    expect(() => loadConfig([], { OFFLOAD_WORKERS: '-2' })).toThrow('OFFLOAD_WORKERS must be a positive integer');
  });

  it('rejects unknown flags', () => {
    expect(() => loadConfig(['--wrokers', '2'], {})).toThrow(ConfigError);
  });
});
