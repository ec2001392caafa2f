/**
 * onnxruntime 1.2x and later, on Linux, keeps telemetry: a persistent device id and a queue of events (OS, runtime,
 * sessions) under ~/.cache/Microsoft/DeveloperTools/.onnxruntime/, uploaded over HTTPS where it can. The agent
 * promises that nothing leaves the device, so this turns it off. Imported before onnxruntime-node everywhere (and
 * first thing by the CLI): the native library reads the variable when it starts. A user who sets
 * ORT_DISABLE_TELEMETRY themselves decides.
 */
process.env.ORT_DISABLE_TELEMETRY ??= '1';

export {};
