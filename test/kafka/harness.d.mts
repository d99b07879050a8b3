// Type declarations for harness.mjs, so TypeScript tests can import it under `strict`.
// Generated from the JSDoc in harness.mjs; regenerate after changing its exports:
//   npx tsc --allowJs --declaration --emitDeclarationOnly --strict --target ES2022 --module NodeNext \
//     --moduleResolution NodeNext --types node --skipLibCheck --outDir /tmp/harness-dts test/kafka/harness.mjs
//   (then copy /tmp/harness-dts/harness.d.mts over this file, keeping this header)

/**
 * Normalises a Kafka version or alias ("3", "3.9", "4", "4.4") to a full version.
 * @param {string} [v]
 * @returns {string}
 */
export function resolveKafkaVersion(v?: string): string;
/**
 * Finds a java binary of at least the given major version.
 * @param {number} minMajor
 * @param {string} [override] explicit java binary (checked, not searched)
 * @returns {string|null}
 */
export function findJava(minMajor: number, override?: string): string | null;
/**
 * Whether a Java 17+ runtime (needed by the Kafka broker) is available.
 * Tests can use it to skip integration tests on machines without Java.
 * @returns {boolean}
 */
export function javaAvailable(): boolean;
/**
 * Ensures the broker classpath for a Kafka version is in .kafka/lib/<version>/ (runs mvn once).
 * @param {string} version full Kafka version
 * @param {(msg: string) => void} [log]
 * @returns {Promise<string>} the lib directory
 */
export function ensureKafkaJars(version: string, log?: (msg: string) => void): Promise<string>;
/**
 * Ensures Apicurio Registry is unpacked in .kafka/apicurio/<version>/ (runs mvn once).
 * @param {string} version
 * @param {(msg: string) => void} [log]
 * @returns {Promise<string>} path of the runnable jar (quarkus-run.jar or *-runner.jar)
 */
export function ensureApicurio(version: string, log?: (msg: string) => void): Promise<string>;
/**
 * Checks that a broker really serves the Kafka protocol and is usable: ApiVersions v0 must
 * succeed and a Metadata v1 request must list at least one live (unfenced) broker and a
 * controller. A bare TCP connect is not enough (the socket opens before the broker is unfenced).
 * @param {number} port
 * @param {number} [timeoutMs]
 * @returns {Promise<{ok: true, brokers: number} | {ok: false, reason: string}>}
 */
export function probeBroker(port: number, timeoutMs?: number): Promise<{
    ok: true;
    brokers: number;
} | {
    ok: false;
    reason: string;
}>;
/**
 * Makes the broker create its internal topics (__consumer_offsets, __transaction_state) now
 * rather than on the first test's first group join or transaction: FindCoordinator v1 is sent for
 * a consumer group and a transactional id until both answer without error. (The transaction
 * coordinator may still answer COORDINATOR_LOAD_IN_PROGRESS, retriable, for a moment after.)
 * @param {number} port
 * @param {number} [timeoutMs]
 * @returns {Promise<boolean>} whether both coordinators became available in time
 */
export function warmUpCoordinators(port: number, timeoutMs?: number): Promise<boolean>;
/**
 * Minimal HTTP request; resolves with status 0 on connection failure (never rejects).
 * @param {string} url
 * @param {number} [timeoutMs]
 * @param {string} [method]
 * @param {string} [payload] JSON body (sent as application/vnd.schemaregistry.v1+json)
 * @returns {Promise<{status: number, body: string}>}
 */
export function httpRequest(url: string, timeoutMs?: number, method?: string, payload?: string): Promise<{
    status: number;
    body: string;
}>;
/**
 * Connection info of the running stack, as written to .kafka/env.json (null when none).
 * @returns {HarnessEnv|null}
 */
export function readEnv(): HarnessEnv | null;
/**
 * Starts a fresh Kafka broker (and, unless `registry: false`, Apicurio Registry) in parallel and
 * waits until both are ready. Any stack previously started from this checkout is stopped first.
 * Writes .kafka/env.json.
 * @param {StartOptions} [opts]
 * @returns {Promise<StartResult>}
 */
export function startKafka(opts?: StartOptions): Promise<StartResult>;
/**
 * Stops every broker and registry started from this checkout (SIGTERM, then SIGKILL after a
 * grace period) and removes their pid files. Idempotent. Data dirs are left for inspection.
 * @param {{log?: (msg: string) => void}} [opts]
 * @returns {Promise<void>}
 */
export function stopKafka(opts?: {
    log?: (msg: string) => void;
}): Promise<void>;
/**
 * Stops only the broker, keeping its data and config so {@link startBroker} can bring it back
 * on the same ports with the same log dirs (for fault-injection tests).
 * @param {{kill?: boolean, kafkaPort?: number, log?: (msg: string) => void}} [opts]
 *   kill: SIGKILL immediately (simulates a crash) instead of a graceful SIGTERM.
 * @returns {Promise<void>}
 */
export function stopBroker(opts?: {
    kill?: boolean;
    kafkaPort?: number;
    log?: (msg: string) => void;
}): Promise<void>;
/**
 * Starts the broker again after {@link stopBroker}: same version, ports and log dirs. Waits until
 * it is ready. No-op if it is already running.
 * @param {{kafkaPort?: number, timeoutMs?: number, log?: (msg: string) => void}} [opts]
 * @returns {Promise<{brokers: string, version: string, startupMs: number}>}
 */
export function startBroker(opts?: {
    kafkaPort?: number;
    timeoutMs?: number;
    log?: (msg: string) => void;
}): Promise<{
    brokers: string;
    version: string;
    startupMs: number;
}>;
/**
 * Freezes (SIGSTOP) or resumes (SIGCONT) the broker process: a hung broker whose sockets stay open.
 * @param {boolean} paused
 * @param {{kafkaPort?: number}} [opts]
 * @returns {Promise<void>}
 */
export function setBrokerPaused(paused: boolean, opts?: {
    kafkaPort?: number;
}): Promise<void>;
/**
 * Reports what is running.
 * @returns {Promise<{broker: {running: boolean, ready: boolean, pid: number|null, port: number, version: string|null},
 *   registry: {running: boolean, ready: boolean, pid: number|null, port: number|null, url: string|null},
 *   env: HarnessEnv|null}>}
 */
export function status(): Promise<{
    broker: {
        running: boolean;
        ready: boolean;
        pid: number | null;
        port: number;
        version: string | null;
    };
    registry: {
        running: boolean;
        ready: boolean;
        pid: number | null;
        port: number | null;
        url: string | null;
    };
    env: HarnessEnv | null;
}>;
/** Directory of this file (test/kafka). */
export const HARNESS_DIR: string;
/** Repository root, found relative to this file (not the cwd). */
export const REPO_ROOT: string;
/** Runtime state directory (override with env KAFKA_STATE_DIR). */
export const STATE_DIR: string;
/** Newest Kafka releases known to resolve from Maven Central and to work with this harness. */
export const KAFKA_VERSIONS: Readonly<{
    '3': "3.9.2";
    '4': "4.4.0";
}>;
/** Kafka version used when none is given (env KAFKA_VERSION overrides). */
export const DEFAULT_KAFKA_VERSION: "4.4.0";
/** Apicurio Registry version used when none is given (env APICURIO_VERSION overrides). Needs Java 21. */
export const DEFAULT_REGISTRY_VERSION: "3.3.3";
/** Apicurio Registry version used when no Java 21 can be found or provisioned (runs on Java 17). */
export const FALLBACK_REGISTRY_VERSION: "3.0.9";
export type StartOptions = {
    /**
     * Kafka version, e.g. "4.4.0" or "3.9.2"; aliases "3", "3.9", "4", "4.4".
     * Default: env KAFKA_VERSION or {@link DEFAULT_KAFKA_VERSION}.
     */
    version?: string | undefined;
    /**
     * Also start the schema registry.
     */
    registry?: boolean | undefined;
    /**
     * Keep the broker's log dirs from the previous run instead of wiping them.
     */
    keepData?: boolean | undefined;
    /**
     * PLAINTEXT broker port (env KAFKA_PORT, default 39092).
     */
    kafkaPort?: number | undefined;
    /**
     * KRaft CONTROLLER port (env KAFKA_CONTROLLER_PORT, default 39093).
     */
    controllerPort?: number | undefined;
    /**
     * Schema registry HTTP port (env SCHEMA_REGISTRY_PORT, default 38081).
     */
    registryPort?: number | undefined;
    /**
     * Apicurio Registry version (env APICURIO_VERSION, default 3.3.3).
     */
    registryVersion?: string | undefined;
    /**
     * Global compatibility level set on the registry
     * (env SCHEMA_REGISTRY_COMPATIBILITY, default "BACKWARD" like Confluent; "NONE" or "" for none).
     */
    registryCompatibility?: string | null | undefined;
    /**
     * Extra/overriding server.properties entries.
     */
    brokerProperties?: Record<string, string | number | boolean> | undefined;
    /**
     * How long to wait for readiness (env KAFKA_START_TIMEOUT_MS, default 120000).
     */
    timeoutMs?: number | undefined;
    /**
     * Progress logger (default: writes to stderr).
     */
    log?: ((msg: string) => void) | undefined;
};
/**
 * Contents of .kafka/env.json, written by {@link startKafka} and removed by {@link stopKafka}.
 */
export type HarnessEnv = {
    /**
     * Bootstrap servers, e.g. "127.0.0.1:39092".
     */
    brokers: string;
    /**
     * Confluent-compatible base URL, or null without registry.
     */
    registryUrl: string | null;
    /**
     * Kafka version.
     */
    version: string;
    /**
     * Apicurio Registry version.
     */
    registryVersion: string | null;
    kafkaPort: number;
    controllerPort: number;
    registryPort: number | null;
    brokerPid: number;
    registryPid: number | null;
    /**
     * Holds server.properties, data/ and broker.log.
     */
    brokerRunDir: string;
    /**
     * Holds registry.log.
     */
    registryRunDir: string | null;
    /**
     * Global compatibility level set on the registry.
     */
    registryCompatibility: string | null;
    /**
     * ISO timestamp.
     */
    startedAt: string;
    startupMs: StartResult["startupMs"];
};
export type StartResult = {
    /**
     * Bootstrap servers, e.g. "127.0.0.1:39092".
     */
    brokers: string;
    /**
     * Confluent-compatible base URL, e.g. "http://127.0.0.1:38081/apis/ccompat/v7", or null.
     */
    registryUrl: string | null;
    /**
     * Kafka version that runs.
     */
    version: string;
    /**
     * Apicurio Registry version that runs, or null.
     */
    registryVersion: string | null;
    /**
     * Measured
     * times in ms: broker launch until it serves requests, then until its group and transaction
     * coordinators are loaded, registry launch until its API answers, and the whole call.
     */
    startupMs: {
        broker: number;
        brokerWarmup: number;
        registry: number | null;
        total: number;
    };
};
