import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { ConfigError, type ErrorCode, hasCode, invalidArgument, MacsecError, notFound } from '../../src/common/errors.js';
import { grpcStatusOf, toServiceError } from '../../src/control/errors.js';

describe('one error model', () => {
  it('every error carries a stable code and its class name', () => {
    const e = invalidArgument('ports[0].interface', 'is required');
    expect(e).toBeInstanceOf(MacsecError);
    expect(e.code).toBe('invalid_argument');
    expect(e.message).toBe('ports[0].interface: is required');
    const c = new ConfigError(['a: bad', 'b: bad']);
    expect(c).toBeInstanceOf(MacsecError);
    expect(c.name).toBe('ConfigError');
    expect(c.code).toBe('config_invalid');
    expect(c.problems).toEqual(['a: bad', 'b: bad']);
    expect(c.message).toBe('invalid configuration:\n  a: bad\n  b: bad');
    expect(new ConfigError('ca_cert: missing').message).toBe('ca_cert: missing');
    expect(hasCode(notFound('channel_id', 'no channel'), 'not_found')).toBe(true);
    expect(hasCode(new Error('x'), 'not_found')).toBe(false);
  });

  it('maps codes to gRPC statuses only at the server edge', () => {
    const cases: [ErrorCode, status][] = [
      ['invalid_argument', status.INVALID_ARGUMENT],
      ['not_found', status.NOT_FOUND],
      ['already_exists', status.ALREADY_EXISTS],
      ['failed_precondition', status.FAILED_PRECONDITION],
      ['permission_denied', status.PERMISSION_DENIED],
      ['unauthenticated', status.UNAUTHENTICATED],
      ['resource_exhausted', status.RESOURCE_EXHAUSTED],
      ['deadline_exceeded', status.DEADLINE_EXCEEDED],
      ['unavailable', status.UNAVAILABLE],
      ['config_invalid', status.INVALID_ARGUMENT],
      ['internal', status.INTERNAL],
    ];
    for (const [code, st] of cases) {
      expect(grpcStatusOf(code)).toBe(st);
      expect(toServiceError(new MacsecError(code, 'why'))).toMatchObject({ code: st, details: 'why' });
    }
  });

  it('anything else is INTERNAL with a bounded message', () => {
    const se = toServiceError(new Error('x'.repeat(10_000)));
    expect(se.code).toBe(status.INTERNAL);
    expect(se.details!.length).toBeLessThan(300);
    expect(se.details).toMatch(/^internal error: x+…\(10000 chars\)$/);
  });
});
