import { readFileSync, writeFileSync } from 'node:fs';
import { get } from 'node:https';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { RealtimeClient } from '../../src/client/realtime-client.js';
import { runCli, startCliServer } from '../helpers/cli.js';
import { voiceTestEnv } from '../helpers/harness.js';
import { useTempDirs } from '../helpers/temp-dir.js';
import { makeCertificate } from '../helpers/tls.js';

/** GET over HTTPS trusting only `ca`; resolves with the status and the certificate the server showed. */
const httpsGet = (url: string, ca: string): Promise<{ status: number; commonName: string }> =>
  new Promise((resolve, reject) => {
    const request = get(url, { ca, agent: false }, (response) => {
      const commonName = String((response.socket as TLSSocket).getPeerCertificate().subject.CN);
      response.resume();
      response.on('end', () => resolve({ status: response.statusCode ?? 0, commonName }));
    });
    request.on('error', reject);
  });

describe('HTTPS and wss served by Harken itself (server.tlsCertFile / server.tlsKeyFile)', () => {
  const tempDir = useTempDirs();

  it('serves HTTPS and a wss realtime session, and takes a renewed certificate on SIGHUP without a restart', async () => {
    const cwd = tempDir();
    const first = makeCertificate(cwd, 'first', 'harken-first');
    const env = { ...voiceTestEnv(), HARKEN_SERVER_TLS_CERT_FILE: join(cwd, 'live.pem'), HARKEN_SERVER_TLS_KEY_FILE: join(cwd, 'live.key') };
    writeFileSync(env.HARKEN_SERVER_TLS_CERT_FILE, readFileSync(first.cert));
    writeFileSync(env.HARKEN_SERVER_TLS_KEY_FILE, readFileSync(first.key), { mode: 0o600 });
    const created = runCli(['keys', 'create', '--name', 'tls', '--scopes', 'realtime', '--json'], { cwd, env });
    const key = (JSON.parse(created.stdout) as { key: string }).key;
    const server = await startCliServer({ cwd, env });
    try {
      expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const firstCa = readFileSync(first.cert, 'utf8');
      expect(await httpsGet(`${server.url}/health`, firstCa)).toEqual({ status: 200, commonName: 'harken-first' });
      // Plain HTTP on the same port is not answered as HTTP.
      await expect(fetch(server.url.replace('https:', 'http:') + '/health')).rejects.toThrow();

      const client = await RealtimeClient.connect({ url: `${server.url.replace(/^https/, 'wss')}/v1/realtime`, sampleRate: 16_000, credentials: key, agent: 'echo', ca: firstCa });
      await client.waitFor('audio_end');
      expect(client.receivedAudio.samples.length).toBeGreaterThan(0);
      await client.close();

      // Renewal: new files in place, SIGHUP, and new connections get the new certificate.
      const renewed = makeCertificate(cwd, 'renewed', 'harken-renewed');
      writeFileSync(env.HARKEN_SERVER_TLS_CERT_FILE, readFileSync(renewed.cert));
      writeFileSync(env.HARKEN_SERVER_TLS_KEY_FILE, readFileSync(renewed.key));
      server.process.kill('SIGHUP');
      await expect.poll(() => server.stdout(), { timeout: 5_000 }).toContain('TLS certificate reloaded');
      expect(await httpsGet(`${server.url}/health`, readFileSync(renewed.cert, 'utf8'))).toEqual({ status: 200, commonName: 'harken-renewed' });

      // A broken renewal is refused; the server keeps serving with the pair it has.
      writeFileSync(env.HARKEN_SERVER_TLS_CERT_FILE, 'not a certificate');
      server.process.kill('SIGHUP');
      await expect.poll(() => server.stdout(), { timeout: 5_000 }).toContain('could not be used; the previous pair stays in use');
      expect(await httpsGet(`${server.url}/health`, readFileSync(renewed.cert, 'utf8'))).toEqual({ status: 200, commonName: 'harken-renewed' });
    } finally {
      expect(await server.stop('SIGTERM')).toBe(0);
    }
  }, 60_000);

  it('refuses to start with half a TLS configuration or an unreadable file, naming the setting', async () => {
    const cwd = tempDir();
    const { cert } = makeCertificate(cwd, 'only', 'only');
    const half = runCli(['serve', '--port', '0'], { cwd, env: { ...voiceTestEnv(), HARKEN_SERVER_TLS_CERT_FILE: cert } });
    expect(half.status).toBe(2);
    expect(half.stderr).toContain('server.tlsKeyFile (HARKEN_SERVER_TLS_KEY_FILE): is empty but server.tlsCertFile is set');
    const missing = runCli(['serve', '--port', '0'], { cwd, env: { ...voiceTestEnv(), HARKEN_SERVER_TLS_CERT_FILE: cert, HARKEN_SERVER_TLS_KEY_FILE: join(cwd, 'nowhere.key') } });
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/server\.tlsKeyFile .*cannot read .*nowhere\.key: ENOENT/);
  }, 60_000);
});
