import { Type, type Static, type TProperties } from 'typebox';

/**
 * The single source of truth for Harken's settings: types, defaults and the
 * documentation shown in the README table (`npm run docs:config` regenerates it).
 * Every key maps to an environment variable HARKEN_<SECTION>_<KEY>, e.g.
 * `server.bodyLimitBytes` ← HARKEN_SERVER_BODY_LIMIT_BYTES.
 */
/** Marks a setting whose value must never be printed or logged. */
export const SECRET = 'x-secret';

/** Connection settings every remote (OpenAI-compatible) engine has. */
const remoteEngineSettings = (role: string, server: string) => ({
  openaiBaseUrl: Type.String({ default: 'https://api.openai.com/v1', description: `Base URL of ${server}.` }),
  openaiApiKey: Type.String({ default: '', [SECRET]: true, description: 'API key for `openai` (secret: never printed or logged).' }),
  timeoutMs: Type.Integer({ default: 15_000, minimum: 100, description: `Time limit for one ${role} call: each attempt of a remote request, or a local engine that hangs (the turn then fails with an error event).` }),
  retries: Type.Integer({ default: 2, minimum: 0, maximum: 10, description: `Retries (with back-off) of a remote ${role} on network errors, 429 and 5xx.` }),
});

/** How much of an engine may run at once, and how long a call may take, for any engine. */
const engineLimits = (role: string, unit: string, perUnitDefault: number) => ({
  maxConcurrent: Type.Integer({ default: 2, minimum: 1, maximum: 64, description: `${role} calls running at once (processes, native decodes) across all sessions; more wait in a queue.` }),
  maxQueued: Type.Integer({ default: 64, minimum: 0, maximum: 10_000, description: `${role} calls that may wait for a slot; beyond it a call fails at once with \`engine_busy\` (retryable).` }),
  timeoutPerUnitMs: Type.Integer({ default: perUnitDefault, minimum: 0, maximum: 60_000, description: `Added to \`timeoutMs\` per ${unit} of input, so a long input gets a longer limit and a timeout means a hung engine.` }),
});

const section = <T extends TProperties>(properties: T, description: string) =>
  Type.Object(properties, { additionalProperties: false, default: {}, description });

export const ConfigSchema = Type.Object(
  {
    server: section(
      {
        host: Type.String({ default: '127.0.0.1', minLength: 1, description: 'Interface to listen on. Use 0.0.0.0 to accept connections from other machines.' }),
        port: Type.Integer({ default: 8080, minimum: 0, maximum: 65535, description: 'TCP port to listen on (0 picks a free port).' }),
        bodyLimitBytes: Type.Integer({ default: 1_048_576, minimum: 1024, maximum: 104_857_600, description: 'Largest accepted request body for JSON routes, in bytes (larger → 413).' }),
        trustProxy: Type.Boolean({ default: false, description: 'Trust X-Forwarded-* headers (enable only behind your own reverse proxy).' }),
        shutdownTimeoutMs: Type.Integer({ default: 10_000, minimum: 0, description: 'How long a graceful shutdown waits for in-flight requests (after the sessions have drained) before exiting anyway.' }),
        drainTimeoutMs: Type.Integer({
          default: 8_000,
          minimum: 0,
          maximum: 600_000,
          description:
            'On SIGTERM: how long live voice sessions and calls may take to finish the reply under way (they get a `shutting_down` event first; what callers said is stored either way) before they close 1001. `/ready` answers 503 and new sessions are refused from the first moment.',
        }),
        docsEnabled: Type.Boolean({ default: true, description: 'Serve the OpenAPI document and its browser UI at /docs.' }),
        environment: Type.Union([Type.Literal('development'), Type.Literal('production')], {
          default: 'development',
          description: '`production` refuses weak secrets and marks cookies Secure (serve behind HTTPS).',
        }),
        engineThreadNice: Type.Integer({
          default: 10,
          minimum: 0,
          maximum: 19,
          description:
            'Linux: every thread but the event loop (speech engines, the local LLM, the thread pool) and the flite processes run at this nice value, so a saturated CPU still paces reply audio on time. 0 leaves priorities alone.',
        }),
        maxHeaderBytes: Type.Integer({ default: 16_384, minimum: 1_024, maximum: 1_048_576, description: 'Largest accepted request header block (larger → 431).' }),
        tlsCertFile: Type.String({
          default: '',
          description: 'PEM certificate (chain) file: with `tlsKeyFile`, Harken serves HTTPS and `wss://` itself (OpenAI’s SDK insists on wss for realtime). Re-read within a minute when the file changes (certificate renewals). Empty: plain HTTP (put TLS in a reverse proxy).',
        }),
        tlsKeyFile: Type.String({ default: '', description: 'PEM private key file for `tlsCertFile` (keep it 0600).' }),
        allowedOrigins: Type.String({
          default: '',
          description: 'Comma-separated origins (e.g. `https://app.example.com`) besides the server’s own from which cookie-authenticated requests and WebSocket upgrades are accepted; others get 403.',
        }),
        configPublic: Type.Boolean({ default: false, description: 'Whether `GET /v1/config` (every setting, secrets as set/unset only) answers without credentials; otherwise only admin credentials (scope `admin`, or an admin login) read it.' }),
        docsPublic: Type.Union([Type.Literal('auto'), Type.Literal('true'), Type.Literal('false')], {
          default: 'auto',
          description: 'Whether /docs is open without credentials. `auto`: open in development, credentials (any valid ones) needed in production.',
        }),
      },
      'HTTP server.',
    ),
    data: section(
      {
        dir: Type.String({ default: './data', minLength: 1, description: 'Directory for the embedded database and generated files; created on first start.' }),
      },
      'Where Harken keeps its files.',
    ),
    models: section(
      {
        dir: Type.String({ default: '', description: 'Where downloaded models live (`harken models pull`). Empty means `<data.dir>/models`.' }),
      },
      'Downloadable models.',
    ),
    store: section(
      {
        driver: Type.Union([Type.Literal('sqlite')], { default: 'sqlite', description: 'Database engine. `sqlite` is embedded (WAL mode).' }),
        sqlitePath: Type.String({ default: '', description: 'SQLite database file. Empty means `<data.dir>/harken.db`.' }),
        minFreeDiskMb: Type.Integer({ default: 64, minimum: 0, maximum: 1_048_576, description: '`/ready` fails (check `storage`) when the data volume has less free space than this, or when a one-row write to the database fails; writes then answer 507 `storage_full` while reads go on.' }),
        busyTimeoutMs: Type.Integer({ default: 5_000, minimum: 0, description: 'How long a write waits for a lock held by another connection.' }),
        conversationRetentionDays: Type.Integer({
          default: 0,
          minimum: 0,
          maximum: 36_500,
          description: 'Conversations not updated for this many days are deleted with their messages and answers (checked at start and every 6 hours). 0 keeps them.',
        }),
      },
      'Conversation storage.',
    ),
    log: section(
      {
        level: Type.Union(
          ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((level) => Type.Literal(level)),
          { default: 'info', description: 'Minimum log level.' },
        ),
        format: Type.Union([Type.Literal('auto'), Type.Literal('json'), Type.Literal('pretty')], {
          default: 'auto',
          description: '`json` lines, `pretty` for people, or `auto` (pretty on a terminal, JSON otherwise).',
        }),
        file: Type.String({ default: '', description: 'Write the server’s log (JSON lines) to this file instead of stdout, rolled by size and time into numbered siblings (`harken.1.log` …, `current.log` links to the one in use), mode 0600. Empty: stdout.' }),
        fileMaxSizeMb: Type.Number({ default: 100, minimum: 0.01, maximum: 100_000, description: 'With log.file: start a new file past this size.' }),
        fileFrequency: Type.Union([Type.Literal('daily'), Type.Literal('hourly'), Type.Literal('none')], { default: 'daily', description: 'With log.file: also start a new file every day or hour (`none`: by size only).' }),
        fileKeep: Type.Integer({ default: 14, minimum: 1, maximum: 10_000, description: 'With log.file: how many old files to keep besides the current one.' }),
      },
      'Logging (never contains secrets or conversation text).',
    ),
    agents: section(
      {
        default: Type.String({ default: 'intake', minLength: 1, description: 'Agent used when a conversation does not name one.' }),
        flowsDir: Type.String({ default: '', description: 'Directory of extra dialogue flow files (*.yaml, *.json); each becomes an agent named by its `id`.' }),
      },
      'Agents that hold conversations.',
    ),
    voice: section(
      {
        enabled: Type.Boolean({ default: true, description: 'Load the speech engines and serve the voice APIs. When false Harken serves text conversations only.' }),
        endOfTurnSilenceMs: Type.Integer({ default: 600, minimum: 100, maximum: 5_000, description: 'Silence after speech that ends the caller\'s turn.' }),
        adaptiveEndOfTurn: Type.Boolean({
          default: true,
          description: 'Expectation-aware end of turn: a whole answer to the question asked (yes/no, a number, a date, a choice) ends the turn after `completeAnswerSilenceMs`; an answer plainly unfinished ("the fifth of…", a trailing "and", "um") waits `incompleteSilenceMs`; anything else `endOfTurnSilenceMs`. False: always `endOfTurnSilenceMs`.',
        }),
        completeAnswerSilenceMs: Type.Integer({ default: 250, minimum: 100, maximum: 5_000, description: 'Pause that ends a turn once the caller has given a whole answer to the question asked.' }),
        incompleteSilenceMs: Type.Integer({ default: 1_200, minimum: 100, maximum: 10_000, description: 'Pause that ends a turn while the answer is plainly unfinished (a trailing "and", "um", half a date).' }),
        silenceRepromptMs: Type.Integer({ default: 10_000, minimum: 0, maximum: 600_000, description: 'Caller silence after the agent has finished speaking before it asks `silenceRepromptText`. 0: never (the session just waits).' }),
        silenceRepromptText: Type.String({ default: 'Are you still there?', minLength: 1, maxLength: 500, description: 'Said (not stored) when the caller has been silent for `silenceRepromptMs`.' }),
        silenceEndMs: Type.Integer({ default: 10_000, minimum: 1_000, maximum: 600_000, description: 'Further silence after the re-prompt before the agent says `silenceGoodbyeText` and ends the conversation (status `no_response`, data.endReason `silence`; a phone call hangs up).' }),
        silenceGoodbyeText: Type.String({ default: 'I have not heard from you, so I will end the call now. Goodbye.', minLength: 1, maxLength: 500, description: 'Said and stored when a conversation ends for silence.' }),
        falseInterruptionRecovery: Type.Boolean({
          default: false,
          description: 'Caller sound over the agent first pauses it (after `pauseAfterSpeechMs`); words that are not backchannels interrupt for good, while a cough, a noise or a backchannel lets it go on from where it paused. False: `bargeInMinSpeechMs` of sound interrupts.',
        }),
        pauseAfterSpeechMs: Type.Integer({ default: 200, minimum: 20, maximum: 2_000, description: 'With falseInterruptionRecovery: caller sound that pauses the agent.' }),
        falseInterruptionWindowMs: Type.Integer({ default: 1_500, minimum: 200, maximum: 10_000, description: 'With falseInterruptionRecovery: with no words recognised this long after the pause, the agent goes on.' }),
        interruptMinWords: Type.Integer({ default: 1, minimum: 1, maximum: 10, description: 'With falseInterruptionRecovery: words (not backchannels) in one utterance that interrupt the agent for good.' }),
        backchannels: Type.String({
          default: 'mm-hm, mhm, mm, hmm, uh-huh, uh huh, yeah, yes, yep, okay, ok, right, i see, sure, got it',
          description: 'With falseInterruptionRecovery: what a listener says to show they follow; over the agent it neither interrupts nor makes a turn. Comma-separated, an entry may be several words.',
        }),
        bargeInMinSpeechMs: Type.Integer({ default: 300, minimum: 0, maximum: 5_000, description: 'Caller speech needed while the agent talks before the agent stops (so "mm-hm" does not cut it off).' }),
        maxUploadBytes: Type.Integer({ default: 10_485_760, minimum: 1024, description: 'Largest audio upload for /v1/transcribe and /v1/voice-chat (larger → 413).' }),
        maxUploadDurationMs: Type.Integer({ default: 120_000, minimum: 1_000, description: 'Longest audio upload (longer → 413).' }),
        apologyText: Type.String({ default: 'Sorry, I did not catch that. Could you say it again?', maxLength: 500, description: 'Said to the caller (not stored) when a turn cannot be recognised or the agent fails, besides the `error` event. Empty: silence.' }),
        maxSynthesisChars: Type.Integer({ default: 5_000, minimum: 1, description: 'Longest text /v1/synthesize accepts.' }),
        ffmpegMaxConcurrent: Type.Integer({ default: 2, minimum: 1, maximum: 64, description: 'ffmpeg processes (decoding uploads, encoding mp3/opus/aac/flac speech on the OpenAI-compatible routes) running at once, server-wide.' }),
        ffmpegMaxQueued: Type.Integer({ default: 16, minimum: 0, maximum: 1_000, description: 'Requests waiting for an ffmpeg slot; beyond them a request is refused 503 `engine_busy`.' }),
      },
      'Speech in and out.',
    ),
    vad: section(
      {
        engine: Type.Union([Type.Literal('silero')], { default: 'silero', description: 'Voice activity detector: Silero (v4 or v5 model), one copy loaded and shared by every session.' }),
        model: Type.String({ default: '', description: 'Silero VAD model file. Empty: `<models.dir>/silero-vad/silero_vad.onnx`, else the copy shipped in the npm package @ricky0123/vad-web.' }),
        threshold: Type.Number({ default: 0.5, minimum: 0.05, maximum: 0.95, description: 'Speech probability above which a frame counts as speech.' }),
        minSpeechMs: Type.Integer({ default: 250, minimum: 50, maximum: 2_000, description: 'Speech shorter than this is ignored as noise.' }),
      },
      'Voice activity detection.',
    ),
    stt: section(
      {
fallbackEngine: Type.Union([Type.Literal(''), Type.Literal('pocketsphinx'), Type.Literal('sherpa'), Type.Literal('openai')], {
          default: '',
          description: 'A second recogniser behind `stt.engine`: it recognises the same utterance when the first fails, and listens instead while the first counts as hung (`/ready` warns). Empty: none.',
        }),
                engine: Type.Union([Type.Literal('pocketsphinx'), Type.Literal('sherpa'), Type.Literal('openai')], {
          default: 'pocketsphinx',
          description:
            'Speech recogniser. `pocketsphinx` is embedded (Debian); `sherpa` runs a downloaded sherpa-onnx model (streaming zipformer transducer or CTC, Whisper or Moonshine, told apart by its files); `openai` calls an OpenAI-compatible /audio/transcriptions server.',
        }),
        pocketsphinxModelDir: Type.String({ default: '/usr/share/pocketsphinx/model/en-us', description: 'PocketSphinx model directory (hmm `en-us`, `en-us.lm.bin`, `cmudict-en-us.dict`).' }),
        pocketsphinxMaxDecoders: Type.Integer({
          default: 4,
          minimum: 1,
          maximum: 64,
          description:
            'PocketSphinx decoders at once (each ~90 MB: its own language model, dictionary and search), shared by every session. An utterance beyond them buffers its audio until one is free, then decodes faster than real time.',
        }),
        pocketsphinxSpareDecoders: Type.Integer({
          default: 1,
          minimum: 0,
          maximum: 64,
          description: 'PocketSphinx decoders kept loaded ahead of need (within `pocketsphinxMaxDecoders`): a caller who starts speaking, or the replacement for a hung decoder, takes one at once instead of waiting ~0.5 s for a load.',
        }),
        hangTimeoutMs: Type.Integer({
          default: 500,
          minimum: 100,
          maximum: 60_000,
          description:
            'A PocketSphinx decoder (each runs in a process of its own) that has not answered a request after this long plus the duration of the audio it was given is looked at: stopped, asleep without progress, or spinning, it counts as hung — its process is killed and the utterance goes on, replayed, on another decoder (stage `stt.recovery` in the engine metrics); merely waiting for a CPU on a busy machine, it is left to finish (up to 30 s).',
        }),
        sherpaModelDir: Type.String({ default: '', description: 'sherpa-onnx model folder for `sherpa`. Empty means `<models.dir>/sherpa-onnx-streaming-zipformer-en-20M-2023-02-17`.' }),
        sherpaThreads: Type.Integer({ default: 1, minimum: 1, maximum: 16, description: 'CPU threads sherpa-onnx uses per recognition.' }),
        sherpaLanguage: Type.String({ default: 'en', minLength: 2, description: 'Language code for multilingual Whisper models.' }),
        ...remoteEngineSettings('recogniser', 'the OpenAI-compatible server (e.g. a local whisper server’s /v1)'),
        ...engineLimits('Recognition', 'second of audio', 2_000),
        openaiModel: Type.String({ default: 'whisper-1', minLength: 1, description: 'Transcription model name.' }),
        openaiLanguage: Type.String({ default: '', description: 'ISO-639-1 language hint for `openai`; empty lets the server detect it.' }),
      },
      'Speech to text.',
    ),
    tts: section(
      {
fallbackEngine: Type.Union([Type.Literal(''), Type.Literal('flite'), Type.Literal('sherpa'), Type.Literal('openai')], {
          default: '',
          description: 'A second synthesiser behind `tts.engine` (e.g. `flite` behind `openai`): it says a sentence the first fails on, and speaks instead while the first counts as hung (`/ready` warns). It uses its own default voice. Empty: none.',
        }),
                engine: Type.Union([Type.Literal('flite'), Type.Literal('sherpa'), Type.Literal('openai')], {
          default: 'flite',
          description:
            'Speech synthesiser. `flite` is embedded (Debian); `sherpa` runs a downloaded Piper/VITS or Kokoro model through sherpa-onnx; `openai` calls an OpenAI-compatible /audio/speech server.',
        }),
        voice: Type.String({ default: '', description: 'Default voice; empty means the engine’s first (flite: slt, kal16, awb, rms, kal; openai: e.g. alloy; sherpa: a speaker number).' }),
        promptCacheMb: Type.Integer({
          default: 32,
          minimum: 0,
          maximum: 4_096,
          description: "Memory for the audio of the agents' fixed phrases (scripted questions, greetings, filler and failure phrases, `voice.apologyText`), synthesised at start and kept (least recently used first out), so their first audio costs nothing. 0: off.",
        }),
        promptWarmup: Type.Boolean({ default: true, description: 'Synthesise the fixed phrases into the prompt cache at start (in the background, one at a time). False: each is cached on its first use.' }),
        voiceAliases: Type.String({
          default: '',
          description:
            'What OpenAI’s voice names (alloy, echo, nova, …) speak with on `/v1/audio/speech`, as `alloy=slt,echo=rms`; OpenAI names not listed use `tts.voice`. Empty: for flite the women’s voices map to slt and the men’s to rms, awb and kal16.',
        }),
        sherpaModelDir: Type.String({ default: '', description: 'Piper/VITS or Kokoro model folder for `sherpa`. Empty means `<models.dir>/vits-piper-en_US-amy-low`.' }),
        hangTimeoutMs: Type.Integer({
          default: 500,
          minimum: 100,
          maximum: 60_000,
          description:
            'A Flite process that has not finished after this long plus 3 ms per character (Flite takes ~1.1) is looked at: stopped, asleep without progress, or spinning, it counts as hung — it is killed and the sentence made again by a new process, once (stage `tts.recovery` in the engine metrics); merely waiting for a CPU, it is left to finish.',
        }),
        espeakDataDir: Type.String({ default: '/usr/lib/x86_64-linux-gnu/espeak-ng-data', description: 'espeak-ng data for `sherpa` voices that do not ship their own (Debian espeak-ng-data).' }),
        ...remoteEngineSettings('synthesiser', 'the OpenAI-compatible speech server'),
        ...engineLimits('Synthesis', 'character of text', 20),
        openaiModel: Type.String({ default: 'tts-1', minLength: 1, description: 'Speech model name.' }),
        openaiVoices: Type.String({ default: 'alloy,echo,fable,onyx,nova,shimmer', description: 'Comma-separated voices the `openai` server offers.' }),
        openaiSampleRate: Type.Integer({ default: 24_000, minimum: 8_000, maximum: 48_000, description: 'Sample rate of the `openai` server’s WAV output.' }),
      },
      'Text to speech.',
    ),
    realtime: section(
      {
        idleTimeoutMs: Type.Integer({ default: 60_000, minimum: 1_000, description: 'A realtime connection that sends nothing for this long is closed.' }),
        pingIntervalMs: Type.Integer({ default: 15_000, minimum: 1_000, description: 'WebSocket ping interval; a peer that misses a pong is disconnected.' }),
        maxFrameBytes: Type.Integer({ default: 65_536, minimum: 1_024, description: 'Largest WebSocket message accepted (larger → close 1009).' }),
        maxBufferedBytes: Type.Integer({ default: 1_048_576, minimum: 65_536, description: 'Outgoing bytes a slow client may have unread before the server pauses sending (and then disconnects it).' }),
        audioLeadMs: Type.Integer({ default: 250, minimum: 0, maximum: 5_000, description: 'How far ahead of real time reply audio is sent; smaller stops faster on barge-in.' }),
        maxSessions: Type.Integer({ default: 10, minimum: 1, description: 'Concurrent realtime sessions on this server; the next is closed with 1013.' }),
        maxSessionsPerCaller: Type.Integer({
          default: 0,
          minimum: 0,
          description: 'Concurrent realtime sessions per API key, account or admin (a key may set its own); the next is closed with 4429. 0: realtime.callerSessionShare of realtime.maxSessions.',
        }),
        callerSessionShare: Type.Number({ default: 0.5, minimum: 0.01, maximum: 1, description: 'Share of realtime.maxSessions one caller may hold when realtime.maxSessionsPerCaller is 0 (at least 1).' }),
        maxSessionsPerAddress: Type.Integer({ default: 0, minimum: 0, description: 'Concurrent realtime sessions per client address (IPv6 by /64), whatever the credentials; closed with 4429. 0: the same as the per-caller limit.' }),
        maxPendingPerAddress: Type.Integer({ default: 4, minimum: 1, description: 'Connections per client address that have not yet sent `start`; more are closed with 4429.' }),
        startTimeoutMs: Type.Integer({ default: 5_000, minimum: 500, description: 'A connection that has not sent a valid `start` by then is closed (1008).' }),
        maxQueuedTurns: Type.Integer({ default: 3, minimum: 1, maximum: 100, description: 'Typed turns waiting in one session; more get an `error` event `busy`.' }),
        credentialRecheckMs: Type.Integer({
          default: 5_000,
          minimum: 100,
          maximum: 5_000,
          description: 'How often an open session re-checks the credential it was opened with (also at each turn); a revoked, expired, rotated or logged-out source closes it with 4401.',
        }),
      },
      'The /v1/realtime WebSocket.',
    ),
    twilio: section(
      {
        enabled: Type.Boolean({ default: false, description: 'Answer phone calls through Twilio Media Streams (`POST /v1/twilio/voice`, `wss /v1/twilio/media`).' }),
        accountSid: Type.String({ default: '', description: 'Twilio account SID (`AC…`); needed with twilio.enabled.' }),
        authToken: Type.String({ default: '', [SECRET]: true, description: 'Twilio auth token: validates `X-Twilio-Signature` on webhooks and the media stream (secret).' }),
        publicUrl: Type.String({ default: '', description: 'The https URL Twilio reaches this server at (e.g. `https://voice.example.com`); signatures are checked against it, never against the Host header.' }),
        numbers: Type.String({ default: '', description: 'Which agent answers which called number: `+15550100=intake,+15550101=assistant`. Empty: every call gets agents.default; otherwise calls to other numbers are rejected.' }),
        allowCallers: Type.String({ default: '', description: 'Comma-separated E.164 patterns (`+1555*`) of callers to answer; empty: everyone not denied.' }),
        denyCallers: Type.String({ default: '', description: 'Comma-separated E.164 patterns of callers to reject (checked first).' }),
        maxConcurrentCalls: Type.Integer({ default: 10, minimum: 1, description: 'Calls in progress at once; the next is answered `<Reject reason="busy">` (live calls are never touched).' }),
        tenant: Type.String({ default: 'default', minLength: 1, description: 'Tenant that owns the conversations of phone calls.' }),
        streamTokenTtlMs: Type.Integer({ default: 30_000, minimum: 1_000, maximum: 600_000, description: 'How long the one-time token in the TwiML may take to come back on the media stream (a stream that has not started by then is closed).' }),
        audioLeadMs: Type.Integer({ default: 1_000, minimum: 100, maximum: 5_000, description: 'Reply audio Twilio may hold unplayed (measured by echoed marks): covers the network round trip; barge-in still stops at once (`clear`).' }),
        dtmfPauseMs: Type.Integer({ default: 1_500, minimum: 100, maximum: 10_000, description: 'Keys pressed are one input, sent after `#` or this long without a key.' }),
        apiBaseUrl: Type.String({ default: 'https://api.twilio.com', description: 'Twilio REST API (placing, hanging up and transferring calls); change only for a proxy or a test double.' }),
        callerId: Type.String({ default: '', description: 'Your Twilio number outbound calls come from (E.164); empty: the first of twilio.numbers.' }),
        outboundAllow: Type.String({ default: '', description: 'E.164 patterns (`+1555*`, comma-separated) `POST /v1/calls` may dial; empty: no outbound calls (a guard against toll fraud).' }),
        ringTimeoutS: Type.Integer({ default: 30, minimum: 5, maximum: 600, description: 'How long an outbound call rings before it counts as no-answer.' }),
        machineDetection: Type.Boolean({ default: false, description: 'Answering-machine detection on outbound calls (Twilio AMD, async): the agent speaks once a person is detected. `POST /v1/calls` can override it per call.' }),
        machineDetectionTimeoutS: Type.Integer({ default: 30, minimum: 3, maximum: 59, description: 'How long Twilio may take to decide person or machine; the agent starts after it in any case.' }),
        onMachine: Type.Union([Type.Literal('hangup'), Type.Literal('voicemail')], { default: 'hangup', description: 'An answering machine answered: `hangup`, or `voicemail` (after the beep, say twilio.voicemailMessage, then hang up).' }),
        voicemailMessage: Type.String({ default: 'Hello, this is an automated call. We could not reach you and will try again later. Goodbye.', maxLength: 1_000, description: 'What the agent leaves on an answering machine with twilio.onMachine=voicemail (`POST /v1/calls` can give its own).' }),
      },
      'Phone calls through Twilio.',
    ),
    llm: section(
      {
        model: Type.String({ default: '', description: 'Chat model for LLM agents (e.g. gpt-4o-mini, llama3.1). With it (or llm.localModelPath) Harken has the built-in `assistant` agent; with neither, no LLM agents.' }),
        baseUrl: Type.String({ default: 'https://api.openai.com/v1', description: 'OpenAI-compatible chat completions server (OpenAI, Ollama `http://localhost:11434/v1`, vLLM, llama.cpp, Groq).' }),
        apiKey: Type.String({ default: '', [SECRET]: true, description: 'API key for llm.baseUrl (secret; empty for local servers).' }),
        fallbackModel: Type.String({ default: '', description: 'Model on a second provider used when the first fails before answering. Empty: none.' }),
        fallbackBaseUrl: Type.String({ default: '', description: 'Base URL of the fallback provider (empty: llm.baseUrl).' }),
        fallbackApiKey: Type.String({ default: '', [SECRET]: true, description: 'API key of the fallback provider (secret).' }),
        localModelPath: Type.String({ default: '', description: 'A GGUF model file run locally through node-llama-cpp (CPU). Used alone when llm.model is empty, else as the last fallback.' }),
        localContextSize: Type.Integer({ default: 4_096, minimum: 256, maximum: 131_072, description: 'Context window of the local model, in tokens.' }),
        localThreads: Type.Integer({ default: 0, minimum: 0, maximum: 256, description: 'CPU threads for the local model; 0 uses all CPUs but one (left to the event loop that carries audio).' }),
        firstTokenTimeoutMs: Type.Integer({ default: 10_000, minimum: 100, description: 'A provider that has not started answering by then (retries included) counts as failed.' }),
        idleTimeoutMs: Type.Integer({ default: 10_000, minimum: 100, description: 'A stream silent this long counts as dropped.' }),
        retries: Type.Integer({ default: 2, minimum: 0, maximum: 10, description: 'Retries with back-off of a request that failed before streaming (network, 429, 5xx).' }),
        replyTimeoutMs: Type.Integer({ default: 60_000, minimum: 1_000, description: 'Longest one provider may take for a whole reply (tool rounds are separate requests); then it is cancelled.' }),
        maxConcurrent: Type.Integer({ default: 8, minimum: 1, description: 'Replies one provider generates at once (the local model: at most one per CPU pair is sensible); more wait.' }),
        maxQueued: Type.Integer({ default: 32, minimum: 0, description: 'Replies that may wait for a provider; beyond it the next provider (or the failure phrase) answers.' }),
        temperature: Type.Number({ default: 0.7, minimum: 0, maximum: 2, description: 'Sampling temperature for the `assistant` agent and agent files that do not set one.' }),
        maxTokens: Type.Integer({ default: 300, minimum: 16, description: 'Longest reply, in tokens.' }),
        systemPrompt: Type.String({
          default: 'You are a helpful voice assistant on a phone call. Answer briefly in plain spoken sentences, without lists, markdown or emoji.',
          minLength: 1,
          description: 'System prompt of the built-in `assistant` agent.',
        }),
        greeting: Type.String({ default: 'Hello, how can I help you?', description: 'What the `assistant` says first; empty lets the caller speak first.' }),
        tools: Type.String({ default: 'end_call', description: 'Comma-separated tools the `assistant` may call: end_call, transfer, lookup.' }),
        historyTokenBudget: Type.Integer({ default: 3_000, minimum: 200, description: 'Tokens of history sent with each turn; older turns are folded into a summary kept with the conversation.' }),
        maxToolRounds: Type.Integer({ default: 3, minimum: 1, maximum: 10, description: 'Tool calls the model may chain within one turn.' }),
        fillerAfterMs: Type.Integer({ default: 1_200, minimum: 0, description: 'When a tool takes longer, the agent says llm.fillerPhrase so the caller does not hear dead air.' }),
        fillerPhrase: Type.String({ default: 'One moment, please.', description: 'Said while a slow tool runs.' }),
        failurePhrase: Type.String({ default: "Sorry, I'm having trouble answering right now. Please try again in a moment.", minLength: 1, description: 'Said when no provider can answer.' }),
        transferTargets: Type.String({ default: '', description: 'Destinations of the `transfer` tool: `name=number-or-uri` pairs, comma-separated.' }),
        lookupUrl: Type.String({ default: '', description: 'Endpoint the `lookup` tool POSTs {query, conversationId} to, signed with llm.lookupSecret.' }),
        lookupSecret: Type.String({ default: '', [SECRET]: true, description: 'HMAC-SHA256 key for the x-harken-signature header of lookup requests (secret).' }),
        lookupTimeoutMs: Type.Integer({ default: 5_000, minimum: 100, description: 'How long a lookup may take.' }),
      },
      'LLM agents (OpenAI-compatible chat completions, streaming).',
    ),
    auth: section(
      {
        publicPaths: Type.String({ default: '/health,/ready,/docs', description: 'Comma-separated paths open without credentials (a path also covers what is below it). Everything else needs credentials.' }),
        tokenSecret: Type.String({ default: '', [SECRET]: true, description: 'Key that signs short-lived tokens (secret). Empty: read from auth.tokenSecretFile, generated on first start.' }),
        tokenSecretFile: Type.String({ default: '', description: 'File holding the token signing key (mode 0600). Empty means `<data.dir>/secrets/token-signing.key`.' }),
        tokenTtlSeconds: Type.Integer({ default: 300, minimum: 10, description: 'Default lifetime of tokens from POST /v1/auth/token.' }),
        tokenMaxTtlSeconds: Type.Integer({ default: 3_600, minimum: 10, maximum: 86_400, description: 'Longest token lifetime a caller may ask for.' }),
        sessionTtlMinutes: Type.Integer({ default: 720, minimum: 5, maximum: 43_200, description: 'Lifetime of an admin login session (cookie).' }),
        sessionIdleMinutes: Type.Integer({ default: 60, minimum: 1, maximum: 43_200, description: 'An admin session unused this long ends (besides its lifetime).' }),
        requireTotp: Type.Boolean({ default: false, description: 'Admins without a TOTP second factor may only enrol one (every other admin route answers 403 until they do).' }),
        adminUsername: Type.String({ default: '', description: 'With auth.adminPassword: creates this admin on a start when no admin exists yet.' }),
        adminPassword: Type.String({ default: '', [SECRET]: true, description: 'Password for auth.adminUsername (secret; at least 12 characters).' }),
        loginMaxFailures: Type.Integer({ default: 5, minimum: 1, maximum: 100, description: 'Failed logins on one account from one address (IPv6 by /64) after which that address is locked out of that account.' }),
        loginLockoutSeconds: Type.Integer({ default: 900, minimum: 1, description: 'How long a locked account/address pair (or a locked account) stays locked.' }),
        loginMaxFailuresPerIp: Type.Integer({ default: 20, minimum: 1, description: 'Failed logins and setup-code attempts from one address per hour (any account) before it is blocked.' }),
        loginAccountLockAddresses: Type.Integer({ default: 10, minimum: 2, description: 'An account locks for everyone only when failures on it came from this many addresses within an hour…' }),
        loginAccountLockFailures: Type.Integer({ default: 50, minimum: 2, description: '…and at least this many failures on it came in that hour.' }),
        failureAlertThreshold: Type.Integer({ default: 10, minimum: 2, description: 'More refused credentials or failed logins than this from one address, or against one account, within auth.failureAlertWindowMinutes raise a security alert (audit event security.auth_failures, a warning log line, a metric).' }),
        failureAlertWindowMinutes: Type.Integer({ default: 15, minimum: 1, maximum: 1_440, description: 'The window auth.failureAlertThreshold counts over.' }),
      },
      'Credentials: API keys, admin logins, tokens.',
    ),
    rateLimit: section(
      {
        enabled: Type.Boolean({ default: true, description: 'Enforce request rate limits.' }),
        windowSeconds: Type.Integer({ default: 60, minimum: 1, maximum: 86_400, description: 'Length of a rate-limit window.' }),
        requests: Type.Integer({ default: 60, minimum: 1, description: 'Requests per window per caller (API key, service account, admin session; the client address when unauthenticated). A key may have its own limit.' }),
        requestsPerIp: Type.Integer({ default: 600, minimum: 1, description: 'Requests per window from one client address, whatever the credentials.' }),
        voiceChatRequests: Type.Integer({ default: 10, minimum: 1, description: 'POST /v1/voice-chat requests per window per caller.' }),
        dailyRequests: Type.Integer({ default: 100_000, minimum: 0, description: 'Requests per UTC day per API key (a key may set its own); counted across restarts. 0: no daily quota.' }),
      },
      'Request rate limits (RateLimit-* headers; 429 with Retry-After when exceeded). Counted in memory per server.',
    ),
    audit: section(
      {
        retentionDays: Type.Integer({ default: 90, minimum: 1, maximum: 3_650, description: 'Audit events older than this are deleted (checked at start and every 6 hours).' }),
      },
      'The security audit log.',
    ),
    conversations: section(
      {
        maxMessageChars: Type.Integer({ default: 4_000, minimum: 1, maximum: 100_000, description: 'Longest accepted user message, in characters (longer → 400).' }),
        maxMessages: Type.Integer({ default: 1_000, minimum: 2, description: 'Most messages one conversation may hold before new turns are refused (409).' }),
      },
      'Conversation limits.',
    ),
    telemetry: section(
      {
        otlpEndpoint: Type.String({ default: '', description: 'OpenTelemetry collector for traces over OTLP/HTTP (e.g. `http://127.0.0.1:4318`; `/v1/traces` is added). Empty: no tracing. Spans: one per HTTP request, one per voice turn with its stages; W3C `traceparent` from callers is honoured; no personal data in attributes.' }),
        serviceName: Type.String({ default: 'harken', minLength: 1, description: 'The `service.name` of the traces.' }),
        sampleRatio: Type.Number({ default: 1, minimum: 0, maximum: 1, description: 'Share of new traces kept (a caller’s sampled `traceparent` is always followed).' }),
      },
      'OpenTelemetry tracing.',
    ),
    monitor: section(
      {
        memorySampleMs: Type.Integer({ default: 60_000, minimum: 100, maximum: 3_600_000, description: 'How often RSS and heap are sampled (`GET /v1/admin/resources` keeps the last hour).' }),
        memoryWarnMb: Type.Integer({
          default: 0,
          minimum: 0,
          description: 'RSS at which a warning is logged and `/ready` shows it. 0: sized at start — the started server’s RSS plus the 700 MB measured under full load, at least 1024 MB, and at most 75 % of a container’s memory limit.',
        }),
        memoryCriticalMb: Type.Integer({
          default: 0,
          minimum: 0,
          description: 'RSS at which the server stops taking sessions, drains and exits (code 1, run end `memory`) for its supervisor to restart it. 0: 1.5 × the warning level, at most 90 % of a container’s memory limit.',
        }),
        audioStallMs: Type.Integer({
          default: 10_000,
          minimum: 500,
          maximum: 600_000,
          description:
            '`/ready` (and `harken healthcheck`) fail while a reply in progress has not moved on for this long, or while every session that streams caller audio has received none for this long.',
        }),
        connectionMaxMessagesPerSecond: Type.Integer({ default: 100, minimum: 1, maximum: 100_000, description: 'More messages than this from one connection in one second flags it (a log line, shown in `GET /v1/admin/sessions`). Twilio `mark` echoes do not count.' }),
        connectionMaxErrors: Type.Integer({ default: 5, minimum: 0, maximum: 10_000, description: 'More protocol errors than this on one connection (malformed or unexpected messages) close it: error `too_many_errors`, close code 1008.' }),
        eventLoopStallMs: Type.Integer({ default: 250, minimum: 20, maximum: 60_000, description: 'An event-loop stall longer than this (audio for every session waits meanwhile) is logged with the requests in flight and counted in `harken_event_loop_stalls_total`.' }),
        restartAlertPerHour: Type.Integer({ default: 5, minimum: 1, maximum: 1_000, description: 'More starts than this in an hour → a warning on `/ready`, the audit event `server.restart_loop` and a log line.' }),
      },
      'Memory, restarts and other watchdogs.',
    ),
  },
  { additionalProperties: false },
);

export type HarkenConfig = Static<typeof ConfigSchema>;
export type SectionName = keyof HarkenConfig;
