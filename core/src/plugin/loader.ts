import { existsSync, readFileSync, statSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import semver from 'semver';
import { PluginLoadError } from '../errors/PluginLoadError.js';
import { isTributaryPlugin, pluginProblems } from './definePlugin.js';
import type { TributaryPlugin } from './types.js';

/**
 * The version of the installed `@tributary/core`, read from its package.json; plugins' `coreVersion`
 * ranges are checked against it.
 *
 * @example
 * ```ts
 * import { CORE_VERSION } from '@tributary/core';
 * console.log(`tributary ${CORE_VERSION}`);
 * ```
 */
export const CORE_VERSION: string = readCoreVersion();

function readCoreVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** Options of {@link loadPlugin}. */
export interface LoadPluginOptions {
  /** Directory the specifier is resolved from: the pipeline file's directory. Default: `process.cwd()`. */
  fromDir?: string;
  /** Version of `@tributary/core` the plugin's `coreVersion` range must accept. Default: {@link CORE_VERSION}. */
  coreVersion?: string;
}

/** Where a specifier resolved to. */
export interface ResolvedSpecifier {
  /** Absolute path of the module file. */
  file: string;
  /** The package directory, for a package specifier. */
  packageDir?: string;
}

/**
 * True for specifiers that name a file (`./x.js`, `../x.js`, `/abs/x.js`, `file:` URLs) rather than a package.
 *
 * @example
 * ```ts
 * import { isPathSpecifier } from '@tributary/core';
 * isPathSpecifier('./plugins/air.js');               // true
 * isPathSpecifier('@tributary/plugin-luchtmeetnet'); // false
 * ```
 */
export function isPathSpecifier(specifier: string): boolean {
  return (
    specifier === '.' ||
    specifier === '..' ||
    specifier.startsWith('./') ||
    specifier.startsWith('../') ||
    specifier.startsWith('.\\') ||
    specifier.startsWith('..\\') ||
    specifier.startsWith('file:') ||
    path.isAbsolute(specifier)
  );
}

const FILE_EXTENSIONS = ['', '.js', '.mjs', '.cjs', '.ts', '.mts'];
const CONDITIONS = ['import', 'node', 'default'];

/**
 * Finds the module file a plugin specifier names, without loading it. Throws a
 * {@link PluginLoadError} naming the specifier and every place that was searched.
 *
 * A path specifier is resolved against `fromDir` (trying `.js`, `.mjs`, `.cjs`, `.ts`, `.mts` and
 * a directory's `package.json`/`index.js` when the path has no extension). A package name
 * (`@tributary/plugin-luchtmeetnet`, optionally with a subpath) is looked up in `node_modules` of
 * `fromDir` and of each parent directory, and its entry is taken from the package's `exports` map
 * (conditions `import`, `node`, `default`), else `main`, else `index.js`.
 *
 * @example
 * ```ts
 * import { resolvePluginSpecifier } from '@tributary/core';
 * resolvePluginSpecifier('@tributary/plugin-luchtmeetnet', '/srv/energy').file;
 * // '/srv/energy/node_modules/@tributary/plugin-luchtmeetnet/dist/index.js'
 * ```
 */
export function resolvePluginSpecifier(specifier: string, fromDir: string = process.cwd()): ResolvedSpecifier {
  if (typeof specifier !== 'string' || specifier.trim() === '') throw new PluginLoadError('empty plugin specifier: expected a package name or a path such as ./plugins/air.js');
  if (isPathSpecifier(specifier)) {
    let base: string;
    try {
      base = specifier.startsWith('file:') ? fileURLToPath(specifier) : path.resolve(fromDir, specifier);
    } catch (err) {
      throw new PluginLoadError(`invalid plugin path ${JSON.stringify(specifier)}: ${(err as Error).message}`, { specifier, cause: err });
    }
    const tried: string[] = [];
    for (const ext of FILE_EXTENSIONS) {
      const candidate = base + ext;
      tried.push(candidate);
      if (isFile(candidate)) return { file: candidate };
    }
    if (isDir(base)) {
      const pkgFile = path.join(base, 'package.json');
      if (isFile(pkgFile)) {
        const entry = packageEntry(base, readJson(pkgFile), '.');
        if (entry) return { file: entry, packageDir: base };
      }
      for (const index of ['index.js', 'index.mjs', 'index.ts']) {
        const candidate = path.join(base, index);
        tried.push(candidate);
        if (isFile(candidate)) return { file: candidate };
      }
    }
    throw new PluginLoadError(`plugin file not found for ${JSON.stringify(specifier)} (relative to ${fromDir}); looked for: ${tried.join(', ')}`, {
      specifier,
    });
  }

  const { name, subpath } = splitPackageSpecifier(specifier);
  if (!name) throw new PluginLoadError(`invalid plugin specifier ${JSON.stringify(specifier)}: expected a package name (e.g. @tributary/plugin-luchtmeetnet) or a path starting with ./`, { specifier });
  const searched: string[] = [];
  let dir = path.resolve(fromDir);
  for (;;) {
    const modules = path.join(dir, 'node_modules');
    searched.push(modules);
    const pkgDir = path.join(modules, name);
    const pkgFile = path.join(pkgDir, 'package.json');
    if (isFile(pkgFile)) {
      const entry = packageEntry(pkgDir, readJson(pkgFile), subpath);
      if (!entry) {
        throw new PluginLoadError(`package ${name} (${pkgDir}) has no entry point for ${JSON.stringify(subpath)}: check its "exports"/"main" in package.json`, {
          specifier,
        });
      }
      return { file: entry, packageDir: pkgDir };
    }
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new PluginLoadError(
    `plugin package ${JSON.stringify(name)} is not installed (searched ${searched.join(', ')}); install it next to the pipeline file (npm install ${name}) or use a path such as ./plugins/my-plugin.js`,
    { specifier },
  );
}

/**
 * Loads a collector plugin by package name or path and checks it: the module's default export (or
 * named export `plugin`) must be a {@link TributaryPlugin} (`kind: 'tributary-plugin'`, as made by
 * `definePlugin`), with a non-empty name, a semver version, valid streams, and a `coreVersion`
 * range that accepts the installed `@tributary/core`.
 *
 * Every failure is a {@link PluginLoadError} (code `ERR_PLUGIN`) that says what is wrong and names
 * the specifier and the file: not installed (with the directories searched), no plugin exported
 * (with the exports found), invalid metadata, unsupported core version, or an error thrown while
 * the module was imported. TypeScript plugin files (`.ts`) load only when the process runs with a
 * TypeScript loader such as tsx (`node --import tsx`); compile plugins to JavaScript otherwise.
 *
 * @param specifier A package name (`@tributary/plugin-luchtmeetnet`) or a path (`./plugins/air.js`).
 * @param options `fromDir`: where to resolve from (default `process.cwd()`); `coreVersion`: core version to check against (default: installed).
 * @example
 * ```ts
 * import { loadPlugin } from '@tributary/core';
 * const plugin = await loadPlugin('./plugins/air.js', { fromDir: '/srv/energy' });
 * console.log(plugin.name, plugin.version, Object.keys(plugin.streams));
 * ```
 */
export async function loadPlugin(specifier: string, options: LoadPluginOptions = {}): Promise<TributaryPlugin> {
  const fromDir = options.fromDir ?? process.cwd();
  const coreVersion = options.coreVersion ?? CORE_VERSION;
  const { file } = resolvePluginSpecifier(specifier, fromDir);
  const label = `plugin ${JSON.stringify(specifier)} (${file})`;

  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'ERR_UNKNOWN_FILE_EXTENSION' && /\.(m|c)?ts$/.test(file)) {
      throw new PluginLoadError(
        `${label} is TypeScript, which this process cannot load: run under tsx (node --import tsx ...) or compile the plugin to JavaScript and point to the .js file`,
        { specifier, file, cause: err },
      );
    }
    throw new PluginLoadError(`${label} failed to load: ${(err as Error)?.message ?? String(err)}`, { specifier, file, cause: err });
  }

  const candidates = [mod.default, mod.plugin, (mod.default as Record<string, unknown> | undefined)?.default, (mod.default as Record<string, unknown> | undefined)?.plugin];
  const plugin = candidates.find(isTributaryPlugin);
  if (!plugin) {
    const near = [mod.default, mod.plugin].find((c) => typeof c === 'object' && c !== null && ('streams' in c || 'create' in c));
    const exportsFound = Object.keys(mod).join(', ') || '(none)';
    const detail = near ? `; the ${mod.default === near ? 'default' : '`plugin`'} export is not one: ${pluginProblems(near).join('; ')}` : '';
    throw new PluginLoadError(
      `${label} exports no Tributary plugin: expected a default export or a named export \`plugin\` created with definePlugin() (exports found: ${exportsFound})${detail}`,
      { specifier, file },
    );
  }
  const problems = pluginProblems(plugin);
  if (problems.length > 0) {
    throw new PluginLoadError(`${label} is not a valid plugin:\n${problems.map((p) => `  - ${p}`).join('\n')}`, {
      specifier,
      file,
      plugin: typeof plugin.name === 'string' ? plugin.name : undefined,
    });
  }
  if (!semver.satisfies(coreVersion, plugin.coreVersion, { includePrerelease: true })) {
    throw new PluginLoadError(
      `${label}: ${plugin.name}@${plugin.version} supports @tributary/core ${plugin.coreVersion}, but the installed core is ${coreVersion}; install a version of the plugin that supports it`,
      { specifier, file, plugin: plugin.name },
    );
  }
  return plugin;
}

/** A plugin package found by {@link listInstalledPlugins}. */
export interface InstalledPlugin {
  /** Package name. */
  name: string;
  version: string;
  description?: string;
  /** Absolute package directory. */
  dir: string;
  /** Range of `@tributary/core` from the package's `peerDependencies`, when declared. */
  coreVersion?: string;
  /** Whether that range accepts the installed core; `undefined` when not declared. */
  compatible?: boolean;
}

/**
 * Lists the plugin packages installed in `node_modules` of `fromDir` and its parents: packages
 * named `@tributary/plugin-*` or with the keyword `tributary-plugin`. Reads package.json files
 * only (nothing is imported); a package found nearer to `fromDir` hides one of the same name further
 * up. Sorted by name.
 *
 * @example
 * ```ts
 * import { listInstalledPlugins } from '@tributary/core';
 * for (const p of await listInstalledPlugins(process.cwd())) console.log(p.name, p.version, p.compatible);
 * ```
 */
export async function listInstalledPlugins(fromDir: string = process.cwd(), options: { coreVersion?: string } = {}): Promise<InstalledPlugin[]> {
  const coreVersion = options.coreVersion ?? CORE_VERSION;
  const found = new Map<string, InstalledPlugin>();
  let dir = path.resolve(fromDir);
  for (;;) {
    const modules = path.join(dir, 'node_modules');
    for (const pkgDir of await packageDirs(modules)) {
      const pkg = await readJsonAsync(path.join(pkgDir, 'package.json'));
      if (!pkg || typeof pkg.name !== 'string' || found.has(pkg.name)) continue;
      const keywords = Array.isArray(pkg.keywords) ? pkg.keywords : [];
      if (!pkg.name.startsWith('@tributary/plugin-') && !keywords.includes('tributary-plugin')) continue;
      const entry: InstalledPlugin = { name: pkg.name, version: typeof pkg.version === 'string' ? pkg.version : '0.0.0', dir: pkgDir };
      if (typeof pkg.description === 'string') entry.description = pkg.description;
      const peer = (pkg.peerDependencies as Record<string, unknown> | undefined)?.['@tributary/core'];
      if (typeof peer === 'string') {
        entry.coreVersion = peer;
        entry.compatible = semver.validRange(peer) !== null && semver.satisfies(coreVersion, peer, { includePrerelease: true });
      }
      found.set(pkg.name, entry);
    }
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return [...found.values()].sort((a, b) => a.name.localeCompare(b.name));
}

async function packageDirs(modules: string): Promise<string[]> {
  let entries: string[];
  try {
    entries = await readdir(modules);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const e of entries) {
    if (e.startsWith('.')) continue;
    const full = path.join(modules, e);
    if (e.startsWith('@')) {
      try {
        for (const s of await readdir(full)) if (!s.startsWith('.')) out.push(path.join(full, s));
      } catch {
        /* not a directory */
      }
    } else out.push(full);
  }
  return out;
}

function splitPackageSpecifier(spec: string): { name: string | undefined; subpath: string } {
  const parts = spec.split('/');
  const valid = (s: string | undefined): boolean => s !== undefined && /^[a-z0-9@._~-][a-z0-9._~-]*$/i.test(s);
  if (spec.startsWith('@')) {
    if (parts.length < 2 || !valid(parts[0]!.slice(1)) || !valid(parts[1])) return { name: undefined, subpath: '.' };
    return { name: `${parts[0]}/${parts[1]}`, subpath: parts.length > 2 ? `./${parts.slice(2).join('/')}` : '.' };
  }
  if (!valid(parts[0])) return { name: undefined, subpath: '.' };
  return { name: parts[0], subpath: parts.length > 1 ? `./${parts.slice(1).join('/')}` : '.' };
}

/** The file a package exposes for `subpath` ('.' or './x'), following `exports`, then `main`, then `index.js`. */
function packageEntry(pkgDir: string, pkg: Record<string, unknown> | undefined, subpath: string): string | undefined {
  if (!pkg) return undefined;
  const exp = pkg.exports;
  if (exp !== undefined && exp !== null) {
    const target = exportsTarget(exp, subpath);
    if (target === undefined) return undefined;
    const file = path.resolve(pkgDir, target);
    return isFile(file) ? file : undefined;
  }
  if (subpath !== '.') {
    for (const ext of FILE_EXTENSIONS) {
      const file = path.resolve(pkgDir, subpath + ext);
      if (isFile(file)) return file;
    }
    return undefined;
  }
  const main = typeof pkg.main === 'string' ? pkg.main : 'index.js';
  for (const ext of ['', '.js', '/index.js']) {
    const file = path.resolve(pkgDir, main + ext);
    if (isFile(file)) return file;
  }
  return undefined;
}

function exportsTarget(exp: unknown, subpath: string): string | undefined {
  const isSubpathMap = typeof exp === 'object' && exp !== null && !Array.isArray(exp) && Object.keys(exp).some((k) => k.startsWith('.'));
  if (!isSubpathMap) return subpath === '.' ? conditional(exp) : undefined;
  const map = exp as Record<string, unknown>;
  if (subpath in map) return conditional(map[subpath]);
  // subpath patterns: "./features/*": "./src/features/*.js"
  for (const [key, value] of Object.entries(map)) {
    const star = key.indexOf('*');
    if (star === -1) continue;
    const prefix = key.slice(0, star);
    const suffix = key.slice(star + 1);
    if (subpath.startsWith(prefix) && subpath.endsWith(suffix) && subpath.length >= key.length - 1) {
      const match = subpath.slice(prefix.length, subpath.length - suffix.length);
      const target = conditional(value);
      return target?.split('*').join(match);
    }
  }
  return undefined;
}

function conditional(target: unknown): string | undefined {
  if (typeof target === 'string') return target;
  if (Array.isArray(target)) {
    for (const t of target) {
      const r = conditional(t);
      if (r !== undefined) return r;
    }
    return undefined;
  }
  if (typeof target === 'object' && target !== null) {
    for (const [cond, value] of Object.entries(target)) {
      if (CONDITIONS.includes(cond)) {
        const r = conditional(value);
        if (r !== undefined) return r;
      }
    }
  }
  return undefined;
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

function isDir(p: string): boolean {
  try {
    return existsSync(p) && statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function readJson(file: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

async function readJsonAsync(file: string): Promise<Record<string, unknown> | undefined> {
  try {
    const v = JSON.parse(await readFile(file, 'utf8')) as unknown;
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
