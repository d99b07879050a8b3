import { expect } from 'chai';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isPluginLoadError, type PluginLoadError } from '../../src/errors/PluginLoadError.js';
import { CORE_VERSION, isPathSpecifier, listInstalledPlugins, loadPlugin, resolvePluginSpecifier } from '../../src/plugin/loader.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const fixtures = path.resolve(here, '../fixtures');
const pipelines = path.join(fixtures, 'pipelines');

async function loadError(specifier: string, options: { fromDir?: string; coreVersion?: string } = { fromDir: pipelines }): Promise<PluginLoadError> {
  try {
    await loadPlugin(specifier, options);
  } catch (err) {
    expect(isPluginLoadError(err), String(err)).to.equal(true);
    expect((err as PluginLoadError).code).to.equal('ERR_PLUGIN');
    return err as PluginLoadError;
  }
  expect.fail(`expected ${specifier} to fail`);
}

describe('plugin loader', () => {
  it('reads the core version from core/package.json', async () => {
    const { readFile } = await import('node:fs/promises');
    const pkg = JSON.parse(await readFile(path.resolve(here, '../../package.json'), 'utf8')) as { version: string };
    expect(CORE_VERSION).to.equal(pkg.version);
  });

  it('tells paths from package names', () => {
    expect(isPathSpecifier('./plugins/air.js')).to.equal(true);
    expect(isPathSpecifier('../air.js')).to.equal(true);
    expect(isPathSpecifier('/opt/plugins/air.js')).to.equal(true);
    expect(isPathSpecifier('@tributary/plugin-luchtmeetnet')).to.equal(false);
    expect(isPathSpecifier('plugin-weather')).to.equal(false);
  });

  it('loads a local plugin by relative path (default export, built by hand)', async () => {
    const plugin = await loadPlugin('./plugins/air.js', { fromDir: pipelines });
    expect(plugin.name).to.equal('air-fixture');
    expect(plugin.version).to.equal('1.2.3');
    expect(Object.keys(plugin.streams)).to.deep.equal(['measurements']);
  });

  it('adds the extension when the path has none, and accepts a named `plugin` export', async () => {
    const plugin = await loadPlugin('./plugins/multi', { fromDir: pipelines });
    expect(plugin.name).to.equal('multi-fixture');
    expect(Object.keys(plugin.streams)).to.deep.equal(['prices', 'load']);
  });

  it('loads a TypeScript plugin made with definePlugin when a TypeScript loader (tsx) is active', async () => {
    const plugin = await loadPlugin('./plugins/typed.ts', { fromDir: pipelines });
    expect(plugin.name).to.equal('typed-fixture');
    expect(plugin.kind).to.equal('tributary-plugin');
  });

  it('loads an ESM-only package by name from node_modules of a parent directory (exports map)', async () => {
    const resolved = resolvePluginSpecifier('@tributary/plugin-fixture', pipelines);
    expect(resolved.file).to.equal(path.join(fixtures, 'node_modules/@tributary/plugin-fixture/lib/index.js'));
    expect(resolved.packageDir).to.equal(path.join(fixtures, 'node_modules/@tributary/plugin-fixture'));
    const plugin = await loadPlugin('@tributary/plugin-fixture', { fromDir: pipelines });
    expect(plugin.name).to.equal('@tributary/plugin-fixture');
    expect(plugin.version).to.equal('2.0.1');
  });

  it('names the specifier and every directory searched when a package is missing', async () => {
    const err = await loadError('@tributary/plugin-nowhere');
    expect(err.specifier).to.equal('@tributary/plugin-nowhere');
    expect(err.message).to.include('"@tributary/plugin-nowhere" is not installed');
    expect(err.message).to.include(path.join(pipelines, 'node_modules'));
    expect(err.message).to.include(path.join(fixtures, 'node_modules'));
    expect(err.message).to.include('npm install @tributary/plugin-nowhere');
  });

  it('names the path it looked for when a plugin file is missing', async () => {
    const err = await loadError('./plugins/nowhere.js');
    expect(err.message).to.include('plugin file not found for "./plugins/nowhere.js"');
    expect(err.message).to.include(path.join(pipelines, 'plugins/nowhere.js'));
  });

  it('rejects a module that exports no plugin, listing its exports', async () => {
    const err = await loadError('./plugins/not-a-plugin.js');
    expect(err.file).to.equal(path.join(pipelines, 'plugins/not-a-plugin.js'));
    expect(err.message).to.include('exports no Tributary plugin');
    expect(err.message).to.include('exports found: helper, version');
  });

  it('explains what is wrong with a default export that almost is a plugin', async () => {
    const err = await loadError('./plugins/half-plugin.js');
    expect(err.message).to.include('kind must be "tributary-plugin"');
    expect(err.message).to.include('version must be a semver version such as 1.0.0, got "one"');
  });

  it('rejects a plugin whose core range does not accept the installed core', async () => {
    const err = await loadError('./plugins/future-core.js');
    expect(err.plugin).to.equal('future-fixture');
    expect(err.message).to.include('future-fixture@3.0.0 supports @tributary/core ^99.0.0');
    expect(err.message).to.include(`the installed core is ${CORE_VERSION}`);
    const plugin = await loadPlugin('./plugins/future-core.js', { fromDir: pipelines, coreVersion: '99.2.0' });
    expect(plugin.name).to.equal('future-fixture');
  });

  it('wraps an error thrown while the module is imported, naming the file', async () => {
    const err = await loadError('./plugins/throws.js');
    expect(err.message).to.include('plugins/throws.js');
    expect(err.message).to.include('failed to load: station list missing');
    expect((err.cause as Error).message).to.equal('station list missing');
  });

  it('lists installed plugins by name prefix or keyword, with their core compatibility', async () => {
    const list = await listInstalledPlugins(pipelines);
    const names = list.map((p) => p.name);
    expect(names).to.include('@tributary/plugin-fixture');
    expect(names).to.include('acme-tributary-weather');
    expect(names).not.to.include('left-pad');
    const fixture = list.find((p) => p.name === '@tributary/plugin-fixture')!;
    expect(fixture).to.include({ version: '2.0.1', coreVersion: '^0.1.0', compatible: true, dir: path.join(fixtures, 'node_modules/@tributary/plugin-fixture') });
    expect(fixture.description).to.equal('Grid load per area (test fixture package)');
    const weather = list.find((p) => p.name === 'acme-tributary-weather')!;
    expect(weather.compatible).to.equal(false);
    expect([...names].sort((a, b) => a.localeCompare(b))).to.deep.equal(names);
  });
});
