import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { HarkenError } from '../../errors.js';
import type { LiveEvent, LiveFeed } from '../../ops/live-feed.js';
import { childrenResidentBytes } from '../../ops/processes.js';
import type { RunHistory } from '../../ops/run-history.js';
import type { AuditLog } from '../../security/audit-log.js';
import type { Authenticator, Caller } from '../../security/authenticator.js';
import { errorResponses } from '../schemas.js';

/** Open event feeds at once: each holds a connection and gets every event. */
const MAX_FEEDS = 16;
/** A feed whose reader falls this far behind is closed (it can reconnect), so it cannot grow server memory. */
const MAX_UNREAD_BYTES = 256 * 1024;
const HEARTBEAT_MS = 15_000;

const LiveSessionView = Type.Object({
  id: Type.String(),
  channel: Type.String({ description: 'realtime or phone.' }),
  actor: Type.String(),
  tenant: Type.String(),
  agent: Type.Union([Type.String(), Type.Null()]),
  conversationId: Type.Union([Type.String(), Type.Null()]),
  startedAt: Type.String(),
  state: Type.String({ description: 'starting, listening, hearing, thinking or speaking.' }),
  seconds: Type.Integer(),
  audio: Type.Union([
    Type.Object({
      inputIdleMs: Type.Union([Type.Integer(), Type.Null()], { description: 'Since the caller’s last audio; null if they never sent any.' }),
      replyStalledMs: Type.Integer({ description: 'How long the reply in progress has not moved on (0 without one).' }),
    }),
    Type.Null(),
  ]),
  connection: Type.Union([
    Type.Object({
      messagesPerSecond: Type.Integer(),
      peakMessagesPerSecond: Type.Integer(),
      errors: Type.Integer({ description: 'Protocol errors the connection survived; more than monitor.connectionMaxErrors closes it (1008, error too_many_errors).' }),
      flagged: Type.Boolean({ description: 'Sent more than monitor.connectionMaxMessagesPerSecond in one second at least once.' }),
    }),
    Type.Null(),
  ]),
});

/**
 * What is happening now, for admins: the sessions in progress, and a Server-Sent Events feed of
 * sessions starting and ending, turns, interruptions, errors and audit events.
 */
export interface LiveRouteOptions {
  readonly live: LiveFeed;
  readonly audit: AuditLog;
  readonly authenticator: Authenticator;
  readonly runs: RunHistory;
  readonly version: string;
  /** How often an open feed re-checks the credential it was opened with (realtime.credentialRecheckMs). */
  readonly recheckMs: number;
}

export const liveRoutes = ({ live, audit, authenticator, runs, version, recheckMs }: LiveRouteOptions): FastifyPluginAsyncTypebox =>
  async (app) => {
    const feeds = new Set<() => void>();
    // An open feed would keep the server from closing: end them first.
    app.addHook('preClose', async () => {
      for (const end of [...feeds]) end();
    });

    app.get(
      '/v1/admin/process',
      {
        config: { access: 'admin' },
        schema: {
          summary: 'This server process: versions, memory and recent starts',
          tags: ['admin'],
          response: {
            200: Type.Object({
              version: Type.String(),
              node: Type.String(),
              pid: Type.Integer(),
              startedAt: Type.String(),
              uptimeSeconds: Type.Integer(),
              memoryMb: Type.Object({
                rss: Type.Number(),
                heapUsed: Type.Number(),
                heapTotal: Type.Number(),
                external: Type.Number(),
                helpers: Type.Number({ description: 'Resident memory of the helper processes: PocketSphinx decoders (one process each), flite runs.' }),
              }),
              starts: Type.Object({
                last7Days: Type.Integer({ description: 'Starts in the run history in the last 7 days, this one included.' }),
                recent: Type.Array(Type.String(), { description: 'The latest starts, newest first.' }),
                previousEnd: Type.Union([Type.Object({ reason: Type.String({ description: 'shutdown, crash, memory or unknown (killed, out of memory, power lost).' }), detail: Type.Union([Type.String(), Type.Null()]) }), Type.Null()], {
                  description: 'How the run before this one ended; null on a first start.',
                }),
              }),
            }),
            ...errorResponses(401, 403),
          },
        },
      },
      async () => {
        const memory = process.memoryUsage();
        const mb = (bytes: number) => Math.round((bytes / 1_048_576) * 10) / 10;
        const uptimeSeconds = Math.round(process.uptime());
        const starts = await runs.startsSince(new Date(Date.now() - 7 * 86_400_000));
        return {
          version,
          node: process.version,
          pid: process.pid,
          startedAt: new Date(Date.now() - uptimeSeconds * 1000).toISOString(),
          uptimeSeconds,
          memoryMb: { rss: mb(memory.rss), heapUsed: mb(memory.heapUsed), heapTotal: mb(memory.heapTotal), external: mb(memory.external), helpers: mb(childrenResidentBytes()) },
          starts: {
            last7Days: starts.length,
            recent: starts.slice(0, 5),
            previousEnd: runs.previous ? { reason: runs.previous.endReason, detail: runs.previous.endDetail } : null,
          },
        };
      },
    );

    app.get(
      '/v1/admin/sessions',
      {
        config: { access: 'admin' },
        schema: { summary: 'Voice sessions and calls in progress on this server', tags: ['admin'], response: { 200: Type.Object({ sessions: Type.Array(LiveSessionView) }), ...errorResponses(401, 403) } },
      },
      async () => ({
        sessions: live.views().map((session) => ({ ...session, seconds: Math.max(0, Math.round((Date.now() - Date.parse(session.startedAt)) / 1000)) })),
      }),
    );

    app.get(
      '/v1/admin/events',
      {
        config: { access: 'admin' },
        schema: {
          summary: 'A live feed of what happens (Server-Sent Events)',
          description:
            'text/event-stream: one event per thing that happens, `event:` its type (session.started, session.ended, speech_started, transcript, reply, interrupted, conversation_ended, error, audit) and `data:` the JSON `{id, at, type, sessionId?, actor?, text?, details?}`. Transcripts are patient data: admins only. `session` follows one session. A comment line every 15 s keeps proxies from closing it; a reader that falls 256 KiB behind is disconnected.',
          tags: ['admin'],
          querystring: Type.Object({ session: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })) }, { additionalProperties: false }),
          produces: ['text/event-stream'],
          response: { ...errorResponses(401, 403, 503) },
        },
      },
      async (request, reply) => {
        if (feeds.size >= MAX_FEEDS) throw new HarkenError(503, 'feed_busy', `this server already serves ${MAX_FEEDS} event feeds; try again later`);
        const only = request.query.session;
        reply.hijack();
        const stream = reply.raw;
        stream.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-store',
          'x-content-type-options': 'nosniff',
          'x-request-id': request.id,
          // Proxies such as nginx must pass events on at once.
          'x-accel-buffering': 'no',
        });
        stream.write('retry: 3000\n\n');
        let ended = false;
        /** `abort`: a reader that stopped reading gets its socket destroyed, or it would keep the socket and its buffer. */
        const end = (abort = false) => {
          if (ended) return;
          ended = true;
          unsubscribe();
          clearInterval(heartbeat);
          clearInterval(recheck);
          feeds.delete(end);
          if (abort) stream.destroy();
          else stream.end();
        };
        const unsubscribe = live.subscribe((event: LiveEvent) => {
          if (only !== undefined && event.sessionId !== only) return;
          if (stream.writableLength > MAX_UNREAD_BYTES) return end(true);
          stream.write(`id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
        });
        const heartbeat = setInterval(() => stream.write(': keep-alive\n\n'), HEARTBEAT_MS);
        heartbeat.unref();
        // Like an open voice session, a feed dies with its credential (logout, revoked key, disabled admin).
        const caller = request.caller as Caller;
        const recheck = setInterval(() => {
          void authenticator.recheck(caller).then(
            (result) => result.ok || end(),
            () => end(),
          );
        }, recheckMs);
        recheck.unref();
        feeds.add(end);
        request.raw.once('close', () => end());
        stream.once('close', () => end());
        // The client may have gone before the listeners above were in place.
        if (request.raw.destroyed || stream.destroyed) end();
      },
    );
  };
