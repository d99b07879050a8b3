/**
 * The testkit for plugin authors: a stub API server with fault injection, and helpers that run a
 * plugin or a pipeline for one cycle.
 * @packageDocumentation
 */
export * from './stubServer.js';
export * from './runPlugin.js';
