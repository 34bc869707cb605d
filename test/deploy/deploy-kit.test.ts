import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { RealtimeClient } from '../../src/client/realtime-client.js';
import { runCli } from '../helpers/cli.js';
import { startListeningServer } from '../helpers/harness.js';
import { recording } from '../helpers/speech.js';
import { useTempDirs } from '../helpers/temp-dir.js';
import { freePort } from '../helpers/ports.js';
import { twilioSid, TwilioSimulator } from '../helpers/twilio-simulator.js';

const DEPLOY = fileURLToPath(new URL('../../deploy/', import.meta.url));
const read = (name: string): string => readFileSync(join(DEPLOY, name), 'utf8');


const waitForPort = async (port: number, timeoutMs = 10_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${port}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
};

/** GET over HTTPS trusting the test's certificate. */
const getTrusting = (url: string, ca: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; text: string }> =>
  new Promise((resolve, reject) => {
    httpsRequest(url, { ca, headers }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, text }));
    })
      .on('error', reject)
      .end();
  });

const ACCOUNT_SID = twilioSid('AC');
const AUTH_TOKEN = 'twilio-test-auth-token-0123456789';

describe('deployment kit', () => {
  const tempDir = useTempDirs();
  const children: ChildProcess[] = [];
  const servers: Array<Awaited<ReturnType<typeof startListeningServer>>> = [];
  afterEach(async () => {
    for (const child of children.splice(0)) child.kill('SIGQUIT');
    await Promise.all(servers.splice(0).map((server) => server.harken.close()));
  });

  it('deploy/nginx.conf in Debian’s nginx, with a self-signed certificate, carries HTTPS, a realtime session and a signed Twilio stream to Harken', async () => {
    const dir = tempDir();
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'privkey.pem'), '-out', join(dir, 'fullchain.pem'), '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });
    const ca = readFileSync(join(dir, 'fullchain.pem'), 'utf8');
    const [tlsPort, httpPort] = [await freePort(), await freePort()];
    const publicUrl = `https://localhost:${tlsPort}`;
    const harken = await startListeningServer(tempDir(), {
      HARKEN_SERVER_TRUST_PROXY: 'true',
      HARKEN_TWILIO_ENABLED: 'true',
      HARKEN_TWILIO_ACCOUNT_SID: ACCOUNT_SID,
      HARKEN_TWILIO_AUTH_TOKEN: AUTH_TOKEN,
      HARKEN_TWILIO_PUBLIC_URL: publicUrl,
      HARKEN_TWILIO_NUMBERS: '+15550100=echo',
    });
    servers.push(harken);
    const harkenPort = new URL(harken.url).port;

    // The shipped file, with only addresses and paths changed for a test run without root's ports.
    const conf = read('nginx.conf')
      .replace('listen 443 ssl;', `listen 127.0.0.1:${tlsPort} ssl;`)
      .replace('listen 80;', `listen 127.0.0.1:${httpPort};`)
      .replace(/\n\s*listen \[::\]:\d+( ssl)?;/g, '')
      .replace('server 127.0.0.1:8080;', `server 127.0.0.1:${harkenPort};`)
      .replaceAll('/etc/harken-tls/', `${dir}/`)
      .replace('/var/log/nginx/access.log', join(dir, 'access.log'))
      .replace('/var/log/nginx/error.log', join(dir, 'error.log'));
    expect(conf).not.toContain(':443');
    writeFileSync(join(dir, 'nginx.conf'), conf);
    const globals = `daemon off; pid ${join(dir, 'nginx.pid')};`;
    const test = spawnSync('nginx', ['-t', '-p', dir, '-c', join(dir, 'nginx.conf'), '-g', globals], { encoding: 'utf8' });
    expect(test.stderr).toContain('syntax is ok');
    const nginx = spawn('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', globals], { stdio: 'ignore' });
    children.push(nginx);
    await waitForPort(tlsPort);

    // HTTPS in, HTTP redirected, the client's address passed on (trustProxy).
    const health = await getTrusting(`${publicUrl}/health`, ca);
    expect(health.status).toBe(200);
    expect(JSON.parse(health.text)).toMatchObject({ status: 'ok' });
    const redirect = await fetch(`http://127.0.0.1:${httpPort}/health`, { redirect: 'manual' });
    expect(redirect.status).toBe(301);
    expect(redirect.headers.get('location')).toBe('https://127.0.0.1/health');
    expect((await getTrusting(`${publicUrl}/v1/conversations`, ca, { authorization: 'Bearer hk_nope_nope', 'x-forwarded-for': '203.0.113.7' })).status).toBe(401);
    const denied = (await harken.inject({ method: 'GET', url: '/v1/admin/audit?action=auth.denied' })).json().events as Array<{ ip: string }>;
    expect(denied[0]!.ip).toBe('203.0.113.0/24');

    // A realtime session over wss through nginx: greeting, a spoken turn, its answer.
    const client = await RealtimeClient.connect({ url: `wss://localhost:${tlsPort}/v1/realtime`, ca, credentials: harken.apiKey, sampleRate: 16_000, agent: 'echo' });
    try {
      await client.waitFor('audio_end');
      const mark = client.events.length;
      await client.streamAudio(recording('goforward.wav').samples);
      await client.streamSilence(1_200);
      const reply = await client.waitFor('reply', { after: mark, where: (event) => event.final, timeoutMs: 15_000 });
      expect(reply.text).toMatch(/^You said: /);
      await client.waitFor('audio_end', { after: mark });
    } finally {
      await client.close();
    }

    // A phone call: the signed webhook and the signed media stream both through nginx.
    const simulator = new TwilioSimulator({ serverUrl: publicUrl, publicUrl, authToken: AUTH_TOKEN, accountSid: ACCOUNT_SID, ca });
    const { answer, call } = await simulator.call();
    expect(answer.kind).toBe('stream');
    expect(answer.kind === 'stream' && answer.streamUrl).toBe(`wss://localhost:${tlsPort}/v1/twilio/media`);
    await call!.waitFor(() => call!.heardMs > 1_000, 20_000, 'greeting audio through nginx');
    call!.hangUp();
    expect((await call!.closed).code).toBe(1000);
    await expect.poll(() => harken.harken.voice!.calls.size).toBe(0);
  }, 90_000);

  it('the systemd unit passes systemd-analyze verify and carries the hardening and restart limits', () => {
    const unit = read('harken.service');
    const verify = spawnSync('systemd-analyze', ['verify', join(DEPLOY, 'harken.service')], { encoding: 'utf8' });
    expect(verify.stderr.split('\n').filter((line) => line.includes('harken.service'))).toEqual([]);
    for (const line of ['Restart=on-failure', 'StartLimitBurst=5', 'NoNewPrivileges=true', 'ProtectSystem=strict', 'PrivateTmp=true', 'User=harken', 'KillSignal=SIGTERM']) expect(unit).toContain(line);
    // The supervisor waits longer than Harken's own drain and shutdown.
    const stopSeconds = Number(/TimeoutStopSec=(\d+)/.exec(unit)?.[1]);
    expect(stopSeconds * 1000).toBeGreaterThan(8_000 + 10_000);
  });

  it('compose.yaml and the Dockerfile: a non-root image with the speech packages, a health check that tests audio, a grace period longer than the drain', () => {
    const compose = parseYaml(read('compose.yaml')) as { services: Record<string, Record<string, unknown>>; volumes: Record<string, unknown> };
    const harken = compose.services.harken!;
    expect(harken.restart).toBe('unless-stopped');
    expect(harken.env_file).toBe('.env');
    expect(harken.volumes).toEqual(['harken-data:/var/lib/harken']);
    expect((harken.healthcheck as { test: string[] }).test).toEqual(['CMD', 'node', '/opt/harken/bin/harken.js', 'healthcheck', '--url', 'http://127.0.0.1:8080']);
    expect(Number(String(harken.stop_grace_period).replace('s', '')) * 1000).toBeGreaterThan(8_000 + 10_000);
    expect(compose.services.nginx).toMatchObject({ profiles: ['proxy'], network_mode: 'service:harken' });
    expect(Object.keys(compose.volumes)).toEqual(['harken-data']);

    const dockerfile = read('Dockerfile');
    const stages = dockerfile.match(/^FROM .*/gm) ?? [];
    expect(stages).toHaveLength(2);
    expect(dockerfile).toMatch(/^USER harken$/m);
    expect(dockerfile).toMatch(/^HEALTHCHECK .*harken\.js", "healthcheck"/m);
    // The runtime stage installs the engines install-system-deps.sh installs for development.
    const runtimePackages = /apt-get install[^\n]*\\\n\s+([^\n]+)/.exec(dockerfile.slice(dockerfile.lastIndexOf('FROM ')))?.[1]?.split(/\s+/) ?? [];
    for (const engine of ['libpocketsphinx3', 'pocketsphinx-en-us', 'libflite1', 'flite', 'espeak-ng-data']) expect(runtimePackages).toContain(engine);
    // Every file the image copies from the build exists in the repository or the build output.
    for (const path of ['package.json', 'package-lock.json', 'bin', 'flows']) expect(statSync(fileURLToPath(new URL(`../../${path}`, import.meta.url)))).toBeTruthy();
  });

  it('.env.example is what `harken secrets generate --env-out - --example` writes, and a real one is 0600 with a strong key', () => {
    const cwd = tempDir();
    const example = runCli(['secrets', 'generate', '--env-out', '-', '--example'], { cwd });
    expect(example.status).toBe(0);
    expect(read('.env.example')).toBe(example.stdout);
    const file = join(cwd, '.env');
    const created = runCli(['secrets', 'generate', '--env-out', file, '--json'], { cwd });
    expect(JSON.parse(created.stdout)).toEqual({ envOut: file, status: 'created', example: false });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const secret = /^HARKEN_AUTH_TOKEN_SECRET=(.+)$/m.exec(readFileSync(file, 'utf8'))?.[1] ?? '';
    expect(secret.length).toBeGreaterThanOrEqual(48);
    expect(runCli(['secrets', 'generate', '--env-out', file], { cwd }).status).toBe(1);
    // A production server given the example's placeholder refuses to start, in one line.
    const refused = runCli(['serve', '--port', '0'], { cwd, env: { HARKEN_SERVER_ENVIRONMENT: 'production', HARKEN_AUTH_TOKEN_SECRET: 'change-me' } });
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/^harken: refusing to start in production: HARKEN_AUTH_TOKEN_SECRET is weak/);
  });
});
