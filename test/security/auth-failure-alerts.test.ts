import { afterEach, describe, expect, it } from 'vitest';
import { AuthFailureWatch, type AuthFailureAlert } from '../../src/security/auth-failure-watch.js';
import { ADMIN_TEST_PASSWORD, startTestServer, type TestServer } from '../helpers/harness.js';
import { useTempDirs } from '../helpers/temp-dir.js';

describe('repeated authentication failures are flagged', () => {
  const tempDir = useTempDirs();
  const servers: TestServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => server.harken.close()));
  });

  it('alerts once per window when failures from one address or on one account pass the threshold, and again after it', () => {
    let nowMs = 0;
    const alerts: AuthFailureAlert[] = [];
    const watch = new AuthFailureWatch({ threshold: 3, windowMinutes: 15 }, (alert) => alerts.push(alert), () => nowMs);
    const fail = (ip: string, actor?: string) => watch.observe({ action: 'auth.denied', outcome: 'failure', ip, ...(actor ? { actor } : {}) });
    for (let index = 0; index < 3; index += 1) fail('198.51.100.7');
    expect(alerts).toEqual([]);
    fail('198.51.100.7');
    fail('198.51.100.7');
    expect(alerts).toEqual([{ kind: 'address', subject: 'ip:198.51.100.0/24', failures: 4, windowMinutes: 15 }]);
    // Failures spread over time do not add up past the window.
    nowMs += 16 * 60_000;
    for (let index = 0; index < 3; index += 1) {
      fail('203.0.113.5', 'admin:alice');
      nowMs += 6 * 60_000;
    }
    fail('203.0.113.6', 'admin:alice');
    expect(alerts).toHaveLength(1);
    // Many addresses against one account: the account is flagged; unknown usernames name nobody.
    for (let index = 0; index < 4; index += 1) fail(`192.0.2.${index + 10}`, 'admin:bob');
    for (let index = 0; index < 5; index += 1) fail(`192.0.2.${index + 100}`, 'unknown');
    expect(alerts.slice(1)).toEqual([{ kind: 'account', subject: 'admin:bob', failures: 4, windowMinutes: 15 }]);
    // A success is not a failure.
    watch.observe({ action: 'auth.login', outcome: 'success', ip: '192.0.2.200', actor: 'admin:carol' });
    expect(alerts).toHaveLength(2);
  });

  it('records a security event, a warning and a metric when one address keeps presenting bad credentials, or one account is guessed at', async () => {
    const server = await startTestServer(tempDir(), { HARKEN_VOICE_ENABLED: 'false', HARKEN_AUTH_FAILURE_ALERT_THRESHOLD: '10', HARKEN_AUTH_LOGIN_MAX_FAILURES: '50', HARKEN_AUTH_LOGIN_MAX_FAILURES_PER_IP: '50' });
    servers.push(server);
    for (let index = 0; index < 11; index += 1) {
      await server.harken.app.inject({ method: 'GET', url: '/v1/agents', headers: { authorization: 'Bearer hk_zzzzzzzzzzzz_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }, remoteAddress: '198.51.100.7' });
    }
    await server.harken.access.admins.create('alice', ADMIN_TEST_PASSWORD);
    for (let index = 0; index < 11; index += 1) {
      await server.harken.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { username: 'alice', password: `guess number ${index}` }, remoteAddress: `203.0.113.${index + 1}` });
    }
    const events = (await server.inject({ method: 'GET', url: '/v1/admin/audit?action=security.auth_failures' })).json().events as Array<{ target: string; details: { kind: string; failures: number } }>;
    expect(events.map((event) => [event.target, event.details.kind, event.details.failures]).sort()).toEqual([
      ['admin:alice', 'account', 11],
      ['ip:198.51.100.0/24', 'address', 11],
    ]);
    expect(server.logs.lines.filter((line) => line.includes('security alert: repeated authentication failures'))).toHaveLength(2);
    expect(server.logs.text).not.toContain('198.51.100.7');
    const metricsKey = await server.createKey(['metrics']);
    const metrics = await (await server.harken.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${metricsKey}` } })).body;
    expect(metrics).toContain('harken_security_alerts_total{kind="address"} 1');
    expect(metrics).toContain('harken_security_alerts_total{kind="account"} 1');
  });
});
