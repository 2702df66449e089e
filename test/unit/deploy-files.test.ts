// The deployment files in deploy/, the Dockerfile and .dockerignore, read the way their tools read them
// and checked against the code they deploy: the compose file's mounts exist; every `sluice run` command
// (compose, Kubernetes, the image's CMD) parses with the real CLI definition and names real actors,
// each deployed exactly once; ports match the run config's http.port; the Grafana dashboard's PromQL
// names only metrics that actors/runtime/metrics.ts registers (and shows every sluice_* one); the
// ConfigMap's sluice.json passes the run-config schema; NATS users and secrets line up. No services.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, posix, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import type { JetStreamManager } from '@nats-io/jetstream';
import { Command } from 'commander';
import { parse, parseAllDocuments } from 'yaml';
import type { ExecutionStatus } from '../../actors/execution/actor.ts';
import { brokerEnvironmentVariables } from '../../actors/execution/brokers/index.ts';
import type { FeedStatus } from '../../actors/feed/actor.ts';
import { feedEnvironmentVariables } from '../../actors/feed/adapters/index.ts';
import type { PortfolioStatus } from '../../actors/portfolio/actor.ts';
import type { RiskGateStatus } from '../../actors/risk/actor.ts';
import {
  ACTOR_NAMES,
  gateKeyFor,
  parseActorList,
  parseRunConfig,
  type RunConfig,
} from '../../actors/runtime/config.ts';
import { startMetrics } from '../../actors/runtime/metrics.ts';
import { DATABASE_ACTORS } from '../../actors/runtime/runtime.ts';
import { register as registerBootstrap } from '../../bin/commands/bootstrap.ts';
import { register as registerRun } from '../../bin/commands/run.ts';
import { readEnvironment } from '../../core/config.ts';
import { GATE_KEY_VARIABLE } from '../../core/gate-seal.ts';
import { Subjects } from '../../schemas/subjects.ts';
import type { NatsConnection } from '../../streams/connection.ts';
import { repoRoot } from '../support/cli.ts';

const deployDir = join(repoRoot, 'deploy');
const k8sDir = join(deployDir, 'kubernetes');
const read = (path: string) => readFileSync(path, 'utf8');
// Compose files use YAML merge keys (`<<: *sluice`).
const readYaml = (path: string): unknown => parse(read(path), { merge: true });
const readYamlDocuments = (path: string): unknown[] =>
  parseAllDocuments(read(path)).map((document) => {
    assert.deepEqual(document.errors, [], `${path} does not parse`);
    return document.toJS();
  });

// biome-ignore lint/suspicious/noExplicitAny: parsed YAML and JSON are walked structurally.
type Loose = any;

const runConfig: RunConfig = parseRunConfig(JSON.parse(read(join(deployDir, 'sluice.json'))));
const httpPort = runConfig.http.port;

/** The `run` options as the real CLI parses `args` (what follows `sluice`), or an error for bad flags. */
async function parseRunArgs(
  args: readonly string[],
  register: (program: Command) => void = registerRun,
): Promise<{ config: string; actors?: string }> {
  const program = new Command('sluice').exitOverride();
  register(program);
  let parsed: { config: string; actors?: string } | undefined;
  for (const command of program.commands) {
    command.exitOverride().action((options: { config: string; actors?: string }) => {
      parsed = options;
    });
  }
  await program.parseAsync([...args], { from: 'user' });
  assert.ok(parsed, `"${args.join(' ')}" is not a sluice run command`);
  return parsed;
}

/**
 * Environment variables Sluice reads: those readEnvironment() looks up, process.env.X in core/, and
 * what the feed adapter and broker registries read (credentials, their *_FILE forms, URL overrides).
 */
function environmentSluiceReads(): Set<string> {
  const names = new Set<string>();
  readEnvironment(
    new Proxy({} as NodeJS.ProcessEnv, {
      get: (_target, key) => {
        if (typeof key === 'string') names.add(key);
        return undefined;
      },
    }),
  );
  names.add(GATE_KEY_VARIABLE);
  for (const provider of ['alpaca', 'polygon'] as const) {
    for (const name of feedEnvironmentVariables(provider)) names.add(name);
  }
  for (const name of brokerEnvironmentVariables()) names.add(name);
  for (const file of readdirSync(join(repoRoot, 'core'), { recursive: true, encoding: 'utf8' })) {
    if (!file.endsWith('.ts')) continue;
    for (const match of read(join(repoRoot, 'core', file)).matchAll(/process\.env\.([A-Z0-9_]+)/g)) {
      names.add(match[1]!);
    }
  }
  return names;
}

/** Whether a `sluice run --actors <list>` writes to the database. */
const needsDatabase = (actors: string) =>
  [...parseActorList(actors)].some((actor) => DATABASE_ACTORS.includes(actor));

/** Whether a `sluice run --actors <list>` needs SLUICE_GATE_KEY (the risk gate or execution). */
const needsGateKey = (actors: string) =>
  gateKeyFor(parseActorList(actors), { [GATE_KEY_VARIABLE]: 'ab'.repeat(32) }) !== undefined;

/** Users defined in the NATS accounts file. */
const natsUsers = new Set(
  [...read(join(deployDir, 'nats', 'accounts.conf')).matchAll(/\{\s*user:\s*([A-Za-z0-9_-]+)/g)].map(
    (match) => match[1]!,
  ),
);

/** Each actor of ACTOR_NAMES exactly once across the lists. */
function assertEveryActorOnce(lists: Record<string, string>, where: string): void {
  const seen = new Map<string, string>();
  for (const [service, list] of Object.entries(lists)) {
    for (const actor of parseActorList(list)) {
      assert.ok(!seen.has(actor), `${where}: actor ${actor} runs in both ${seen.get(actor)} and ${service}`);
      seen.set(actor, service);
    }
  }
  assert.deepEqual([...seen.keys()].sort(), [...ACTOR_NAMES].sort(), `${where}: actors not deployed`);
}

// --- Dockerfile and .dockerignore ----------------------------------------------------------------

interface Instruction {
  keyword: string;
  args: string;
}

function dockerfile(): Instruction[] {
  const logical = read(join(repoRoot, 'Dockerfile'))
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  return logical.map((line) => {
    const [keyword, ...rest] = line.split(/\s+/);
    return { keyword: keyword!.toUpperCase(), args: rest.join(' ') };
  });
}

const execForm = (instruction: Instruction | undefined): string[] => {
  assert.ok(instruction, 'instruction missing');
  const value: unknown = JSON.parse(instruction.args);
  assert.ok(Array.isArray(value), `${instruction.keyword} must use the exec (JSON array) form`);
  return value as string[];
};

/** .dockerignore as Docker applies it: root-relative globs, later lines win, `!` re-includes. */
function dockerIgnored(): (path: string) => boolean {
  const rules = read(join(repoRoot, '.dockerignore'))
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const negate = line.startsWith('!');
      const pattern = posix
        .normalize((negate ? line.slice(1) : line).replace(/^\/+/, ''))
        .replace(/\/+$/, '');
      const source = pattern
        .split(/(\*\*\/?|\*|\?)/)
        .map((part) => {
          if (part === '**/' || part === '**') return '(?:.*/)?';
          if (part === '*') return '[^/]*';
          if (part === '?') return '[^/]';
          return part.replace(/[.+^${}()|[\]\\]/g, '\\$&');
        })
        .join('');
      return { negate, regex: new RegExp(`^${source}$`) };
    });
  return (path) => {
    const parts = path.split('/');
    // A path is excluded when it or any folder above it matches.
    const candidates = parts.map((_, index) => parts.slice(0, index + 1).join('/'));
    let ignored = false;
    for (const rule of rules) {
      if (candidates.some((candidate) => rule.regex.test(candidate))) ignored = !rule.negate;
    }
    return ignored;
  };
}

/** Every repository file reachable from `entry` through relative static and literal dynamic imports. */
function sourceClosure(entry: string): Set<string> {
  const files = new Set<string>();
  const pending = [entry];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (files.has(file)) continue;
    assert.ok(existsSync(file), `imported file missing: ${relative(repoRoot, file)}`);
    files.add(file);
    const text = read(file);
    const specifiers = [
      ...text.matchAll(/\bfrom\s+'([^']+)'/g),
      ...text.matchAll(/\bimport\s+'([^']+)'/g),
      ...text.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g),
    ].map((match) => match[1]!);
    for (const specifier of specifiers) {
      if (specifier.startsWith('.')) pending.push(resolve(dirname(file), specifier));
    }
  }
  return files;
}

describe('Dockerfile', () => {
  const instructions = dockerfile();
  const find = (keyword: string) => instructions.filter((i) => i.keyword === keyword);

  it('builds on node:20-slim, skips the onnxruntime CUDA download, installs runtime dependencies', () => {
    assert.equal(find('FROM').length, 1);
    assert.equal(find('FROM')[0]!.args, 'node:20-slim');
    const install = instructions.findIndex((i) => i.keyword === 'RUN' && /\bnpm (ci|install)\b/.test(i.args));
    assert.ok(install >= 0, 'no npm install step');
    assert.match(instructions[install]!.args, /--omit=dev/);
    const skip = instructions.findIndex(
      (i) => i.keyword === 'ENV' && /\bONNXRUNTIME_NODE_INSTALL=skip\b/.test(i.args),
    );
    assert.ok(skip >= 0 && skip < install, 'ONNXRUNTIME_NODE_INSTALL=skip must be set before npm install');
  });

  it('runs `node bin/sluice.js`; the default command is a valid `sluice run`; the HTTP port is exposed', async () => {
    assert.deepEqual(execForm(find('ENTRYPOINT').at(-1)), ['node', 'bin/sluice.js']);
    assert.ok(existsSync(join(repoRoot, 'bin', 'sluice.js')));
    const options = await parseRunArgs(execForm(find('CMD').at(-1)));
    assert.equal(options.config, '/etc/sluice/sluice.json');
    assert.deepEqual(
      find('EXPOSE').flatMap((i) => i.args.split(/\s+/)),
      [String(httpPort)],
      'EXPOSE the run config http.port',
    );
    assert.ok(find('USER').length > 0, 'runs as an unprivileged user');
  });

  it('.dockerignore keeps every file the CLI loads and every file the Dockerfile copies by name', () => {
    const ignored = dockerIgnored();
    const closure = sourceClosure(join(repoRoot, 'bin', 'sluice.js'));
    assert.ok(closure.size > 50, `import walk found only ${closure.size} files`);
    const dropped = [...closure].map((file) => relative(repoRoot, file)).filter(ignored);
    assert.deepEqual(dropped, [], 'files the CLI imports are excluded from the image');
    for (const copy of find('COPY')) {
      const sources = copy.args
        .split(/\s+/)
        .filter((arg) => !arg.startsWith('--'))
        .slice(0, -1);
      for (const source of sources.filter((s) => s !== '.')) {
        assert.ok(existsSync(join(repoRoot, source)), `COPY ${source}: missing`);
        assert.equal(ignored(source), false, `COPY ${source}: excluded by .dockerignore`);
      }
    }
    // The ignore file does its job: no host node_modules or git history in the build context.
    assert.equal(ignored('node_modules/pino/package.json'), true);
    assert.equal(ignored('.git/HEAD'), true);
  });
});

// --- docker-compose.yml ----------------------------------------------------------------------------

const compose: Loose = readYaml(join(deployDir, 'docker-compose.yml'));
const services: Record<string, Loose> = compose.services;
const imageServices = Object.entries(services).filter(([, service]) => service.build !== undefined);
/** The actor services (`sluice run`); the one-shot bootstrap apart. */
const sluiceServices = imageServices.filter(([, service]) => service.command?.[0] === 'run');

/** [source, target] of a service's bind mounts, sources resolved against deploy/. */
function bindMounts(service: Loose): [string, string][] {
  return ((service.volumes ?? []) as (string | Loose)[]).flatMap((volume): [string, string][] => {
    if (typeof volume === 'string') {
      const [source, target] = volume.split(':');
      return source!.startsWith('.') || source!.startsWith('/')
        ? [[resolve(deployDir, source!), target!]]
        : [];
    }
    return volume.type === 'bind' ? [[resolve(deployDir, volume.source), volume.target]] : [];
  });
}

describe('docker-compose.yml', () => {
  it('every file and folder it mounts or builds from exists; named volumes are declared', () => {
    let checked = 0;
    for (const [name, service] of Object.entries(services)) {
      for (const volume of (service.volumes ?? []) as (string | Loose)[]) {
        const source = typeof volume === 'string' ? volume.split(':')[0]! : volume.source;
        if (source.startsWith('.') || source.startsWith('/')) {
          assert.ok(existsSync(resolve(deployDir, source)), `${name} mounts ${source}, which does not exist`);
          checked++;
        } else {
          assert.ok(source in (compose.volumes ?? {}), `${name}: volume ${source} is not declared`);
        }
      }
      if (service.build !== undefined) {
        const build = typeof service.build === 'string' ? { context: service.build } : service.build;
        const file = join(resolve(deployDir, build.context), build.dockerfile ?? 'Dockerfile');
        assert.ok(existsSync(file), `${name} builds from ${file}, which does not exist`);
      }
    }
    assert.ok(checked >= 8, `only ${checked} bind mounts found`);
    assert.ok(sluiceServices.length > 0, 'no service builds the Sluice image');
  });

  it('sluice-bootstrap: `sluice bootstrap` on the mounted sluice.json as admin; every actor waits for it', async () => {
    const bootstraps = imageServices.filter(([, service]) => service.command?.[0] === 'bootstrap');
    assert.deepEqual(
      bootstraps.map(([name]) => name),
      ['sluice-bootstrap'],
    );
    const [, bootstrap] = bootstraps[0]!;
    const options = await parseRunArgs(bootstrap.command, registerBootstrap);
    const mount = bindMounts(bootstrap).find(([, target]) => target === options.config);
    assert.equal(mount?.[0], join(deployDir, 'sluice.json'), 'bootstrap --config is not deploy/sluice.json');
    assert.equal(bootstrap.environment.NATS_USER, 'admin');
    assert.equal(bootstrap.environment.NATS_PASSWORD, `\${SLUICE_ADMIN_PASSWORD}`);
    assert.equal(bootstrap.environment.SLUICE_STREAM_REPLICAS, '3');
    assert.equal(
      imageServices.length,
      sluiceServices.length + 1,
      'a Sluice service neither run nor bootstrap',
    );
    for (const [name, service] of sluiceServices) {
      assert.deepEqual(
        service.depends_on?.['sluice-bootstrap'],
        { condition: 'service_completed_successfully' },
        `${name} does not wait for sluice-bootstrap`,
      );
    }
  });

  it('each sluice service: a valid `sluice run`, the mounted sluice.json, a NATS role user, every actor once', async () => {
    const known = environmentSluiceReads();
    const lists: Record<string, string> = {};
    for (const [name, service] of sluiceServices) {
      const options = await parseRunArgs(service.command);
      const mount = bindMounts(service).find(([, target]) => target === options.config);
      assert.ok(mount, `${name}: --config ${options.config} is not a mounted file`);
      assert.equal(mount[0], join(deployDir, 'sluice.json'), `${name}: --config is not deploy/sluice.json`);
      assert.ok(options.actors, `${name}: no --actors`);
      lists[name] = options.actors;
      const env: Record<string, string> = service.environment;
      for (const variable of Object.keys(env)) {
        assert.ok(known.has(variable), `${name}: Sluice does not read ${variable}`);
      }
      assert.ok(natsUsers.has(env.NATS_USER!), `${name}: NATS user ${env.NATS_USER} not in accounts.conf`);
      assert.equal(env.NATS_PASSWORD, `\${SLUICE_${env.NATS_USER!.toUpperCase()}_PASSWORD}`);
      assert.equal(
        env[GATE_KEY_VARIABLE],
        needsGateKey(options.actors) ? `\${${GATE_KEY_VARIABLE}}` : undefined,
        `${name}: ${GATE_KEY_VARIABLE} for the risk gate and execution only`,
      );
      const probe = JSON.stringify(service.healthcheck?.test ?? []);
      assert.match(
        probe,
        new RegExp(`:${httpPort}/ready\\b`),
        `${name}: healthcheck is not /ready on ${httpPort}`,
      );
    }
    assertEveryActorOnce(lists, 'docker-compose.yml');
  });

  it('prometheus.yml scrapes every sluice service, on the run config http.port', () => {
    const prometheus: Loose = readYaml(join(deployDir, 'prometheus.yml'));
    const targets: string[] = prometheus.scrape_configs.flatMap((job: Loose) =>
      job.static_configs.flatMap((group: Loose) => group.targets),
    );
    assert.deepEqual(
      [...targets].sort(),
      sluiceServices.map(([name]) => `${name}:${httpPort}`).sort(),
      'scrape targets differ from the sluice services',
    );
  });

  it('grafana: the provisioned data source is the compose Prometheus; the dashboards folder is mounted', () => {
    const grafana = services.grafana;
    assert.ok(grafana, 'no grafana service');
    const provisioning = join(deployDir, 'grafana', 'provisioning');
    const mounts = bindMounts(grafana);
    assert.ok(
      mounts.some(([source, target]) => source === provisioning && target === '/etc/grafana/provisioning'),
      'grafana/provisioning is not mounted at /etc/grafana/provisioning',
    );
    const datasources: Loose = readYaml(join(provisioning, 'datasources', 'prometheus.yml'));
    const prometheus = datasources.datasources.find((d: Loose) => d.type === 'prometheus');
    const url = new URL(prometheus.url);
    assert.ok(url.hostname in services, `data source host ${url.hostname} is not a compose service`);
    assert.ok(
      JSON.stringify(services[url.hostname].ports ?? []).includes(`:${url.port}`),
      `${url.hostname} does not serve port ${url.port}`,
    );
    const providers: Loose = readYaml(join(provisioning, 'dashboards', 'sluice.yml'));
    for (const provider of providers.providers) {
      const mount = mounts.find(([, target]) => target === provider.options.path);
      assert.ok(mount, `dashboard path ${provider.options.path} is not mounted into grafana`);
      assert.ok(statSync(mount[0]).isDirectory());
      assert.ok(
        readdirSync(mount[0]).includes('sluice.json'),
        'the Sluice dashboard is not in the mounted folder',
      );
    }
  });
});

// --- Grafana dashboard -----------------------------------------------------------------------------

/** Series names the runtime exports, from the registry startMetrics builds (histograms as _bucket/_sum/_count). */
async function exportedSeries(): Promise<{ series: Set<string>; sluiceMetrics: Map<string, string[]> }> {
  const metrics = startMetrics({
    connection: { subscribe: () => ({ unsubscribe() {} }) } as unknown as NatsConnection,
    manager: {
      consumers: { list: async function* () {} },
      streams: {
        info: async () => {
          throw new Error('no stream');
        },
      },
    } as unknown as JetStreamManager,
    subjects: new Subjects(4),
    flows: () => ({}),
    risk: () => ({}) as RiskGateStatus,
    portfolio: () => ({}) as PortfolioStatus,
    feed: {
      status: () => ({ provider: 'alpaca', rejected: {} }) as unknown as FeedStatus,
      lag: {},
    },
    execution: {
      status: () => ({ venue: 'alpaca-paper', accountMode: 'paper' }) as ExecutionStatus,
      roundTrip: {},
    },
    watchDecisions: true,
    watchInference: true,
    pollIntervalMs: 60_000,
  });
  const series = new Set<string>();
  const sluiceMetrics = new Map<string, string[]>();
  for (const metric of metrics.registry.getMetricsAsArray()) {
    // prom-client types `type` as an enum it does not export at run time; the values are these strings.
    const type = String(metric.type);
    const names =
      type === 'histogram'
        ? ['_bucket', '_sum', '_count'].map((suffix) => metric.name + suffix)
        : type === 'summary'
          ? [metric.name, `${metric.name}_sum`, `${metric.name}_count`]
          : [metric.name];
    for (const name of names) series.add(name);
    if (metric.name.startsWith('sluice_')) sluiceMetrics.set(metric.name, names);
  }
  await metrics.stop();
  return { series, sluiceMetrics };
}

const PROMQL_KEYWORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'bool', 'offset']);

/** Metric names a PromQL expression selects (strings, label matchers, ranges and grouping lists removed). */
function promqlMetricNames(expression: string): string[] {
  const stripped = expression
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names: string[] = [];
  for (const match of stripped.matchAll(/(?<![\w.$])[A-Za-z_:][\w:]*/g)) {
    const after = stripped.slice(match.index + match[0].length);
    if (/^\s*\(/.test(after)) continue; // a function or aggregation
    if (PROMQL_KEYWORDS.has(match[0].toLowerCase())) continue;
    names.push(match[0]);
  }
  return names;
}

describe('grafana dashboard', () => {
  const dashboard: Loose = JSON.parse(read(join(deployDir, 'grafana', 'dashboards', 'sluice.json')));
  const panels: Loose[] = dashboard.panels.flatMap((panel: Loose) => [panel, ...(panel.panels ?? [])]);
  const queries: { where: string; expr: string }[] = [
    ...panels.flatMap((panel) =>
      (panel.targets ?? []).map((target: Loose) => ({ where: `panel "${panel.title}"`, expr: target.expr })),
    ),
    ...dashboard.templating.list
      .filter((variable: Loose) => variable.type === 'query')
      .map((variable: Loose) => {
        const query = typeof variable.query === 'string' ? variable.query : variable.query.query;
        const labelValues = /^label_values\(\s*(.+?)\s*,\s*\w+\s*\)$/.exec(query);
        return { where: `variable $${variable.name}`, expr: labelValues ? labelValues[1]! : query };
      }),
  ];

  it('parses; panels have unique ids, queries and the provisioned data source', () => {
    const uids = new Set(
      (
        readYaml(join(deployDir, 'grafana', 'provisioning', 'datasources', 'prometheus.yml')) as Loose
      ).datasources.map((d: Loose) => d.uid),
    );
    const ids = panels.map((panel) => panel.id);
    assert.equal(new Set(ids).size, ids.length, 'duplicate panel ids');
    for (const panel of panels.filter((p) => p.type !== 'row')) {
      assert.ok(panel.targets?.length > 0, `panel "${panel.title}" has no query`);
      for (const source of [panel.datasource, ...panel.targets.map((t: Loose) => t.datasource)]) {
        assert.ok(
          uids.has(source?.uid),
          `panel "${panel.title}": data source ${source?.uid} is not provisioned`,
        );
      }
    }
    assert.ok(queries.length >= 10);
  });

  it('every metric its PromQL names is exported by actors/runtime/metrics.ts', async () => {
    const { series } = await exportedSeries();
    assert.ok(series.has('sluice_actor_events_total'), 'registry listing is empty or wrong');
    for (const { where, expr } of queries) {
      const names = promqlMetricNames(expr);
      assert.ok(names.length > 0, `${where}: no metric found in ${expr}`);
      for (const name of names) assert.ok(series.has(name), `${where}: ${name} is not exported (in ${expr})`);
    }
  });

  it('shows every sluice_* metric the runtime exports', async () => {
    const { sluiceMetrics } = await exportedSeries();
    const used = new Set(queries.flatMap(({ expr }) => promqlMetricNames(expr)));
    for (const [metric, names] of sluiceMetrics) {
      assert.ok(
        names.some((name) => used.has(name)),
        `${metric} is on no panel`,
      );
    }
  });

  it('exposure gauges span the risk limits of deploy/sluice.json', () => {
    const gauge = (metric: string) =>
      panels.find(
        (panel) =>
          panel.type === 'gauge' &&
          panel.targets.some((t: Loose) => promqlMetricNames(t.expr).includes(metric)),
      );
    const { limits } = runConfig.trading;
    assert.equal(gauge('sluice_portfolio_gross_exposure')?.fieldConfig.defaults.max, limits.maxGrossExposure);
    assert.equal(gauge('sluice_portfolio_net_exposure')?.fieldConfig.defaults.max, limits.maxNetExposure);
    assert.equal(gauge('sluice_portfolio_net_exposure')?.fieldConfig.defaults.min, -limits.maxNetExposure!);
  });

  it('the PromQL reader finds what it should', () => {
    assert.deepEqual(
      promqlMetricNames(
        'histogram_quantile(0.99, sum by (le) (rate(a_bucket{x="b c", y=~"$v"}[$__rate_interval]))) or vector(0)',
      ),
      ['a_bucket'],
    );
    assert.deepEqual(promqlMetricNames('m1 and on (instance) m2 offset 5m > 1e3'), ['m1', 'm2']);
  });
});

// --- Kubernetes ------------------------------------------------------------------------------------

describe('kubernetes manifests', () => {
  const kustomization: Loose = readYaml(join(k8sDir, 'kustomization.yaml'));
  const resources: Loose[] = kustomization.resources.flatMap((file: string) => {
    assert.ok(existsSync(join(k8sDir, file)), `kustomization names ${file}, which does not exist`);
    return readYamlDocuments(join(k8sDir, file));
  });
  const secrets = readYamlDocuments(join(k8sDir, 'secrets.example.yaml')) as Loose[];
  const secretKeys = new Set(
    secrets.flatMap((secret) =>
      Object.keys(secret.stringData ?? secret.data ?? {}).map((key) => `${secret.metadata.name}/${key}`),
    ),
  );
  const deployments = resources.filter((r) => r.kind === 'Deployment');
  const configMap = resources.find((r) => r.kind === 'ConfigMap' && r.metadata.name === 'sluice-config');

  it('parses; every manifest in the folder is applied by the kustomization except Helm values and examples', () => {
    const manifests = readdirSync(k8sDir).filter(
      (file) => /\.ya?ml$/.test(file) && !/values|example|kustomization/.test(file),
    );
    assert.deepEqual([...kustomization.resources].sort(), manifests.sort());
    for (const resource of resources) {
      assert.ok(
        resource.apiVersion && resource.kind && resource.metadata?.name,
        'resource without kind/name',
      );
    }
    assert.ok(deployments.length > 0);
  });

  it('the ConfigMap sluice.json passes the run-config schema and equals deploy/sluice.json', () => {
    assert.ok(configMap, 'no sluice-config ConfigMap');
    const config = parseRunConfig(JSON.parse(configMap.data['sluice.json']));
    assert.deepEqual(config, runConfig);
    assert.ok([undefined, '0.0.0.0'].includes(config.http.host), 'http.host must let probes reach the pod');
  });

  it('each Deployment: a valid `sluice run` on the mounted config, every actor once, role users as in compose', async () => {
    const composeUsers = new Map(
      await Promise.all(
        sluiceServices.map(
          async ([, service]) =>
            [(await parseRunArgs(service.command)).actors, service.environment.NATS_USER] as const,
        ),
      ),
    );
    const known = environmentSluiceReads();
    const lists: Record<string, string> = {};
    for (const deployment of deployments) {
      const name = deployment.metadata.name;
      const pod = deployment.spec.template.spec;
      const container = pod.containers.find((c: Loose) => c.name === 'sluice');
      assert.ok(container, `${name}: no sluice container`);
      assert.equal(container.command, undefined, `${name}: keep the image entrypoint (node bin/sluice.js)`);
      const options = await parseRunArgs(container.args);
      const mount = container.volumeMounts.find((m: Loose) => options.config.startsWith(`${m.mountPath}/`));
      assert.ok(mount, `${name}: --config ${options.config} is not under a volume mount`);
      const volume = pod.volumes.find((v: Loose) => v.name === mount.name);
      assert.equal(volume?.configMap?.name, configMap.metadata.name, `${name}: config is not the ConfigMap`);
      assert.ok(
        options.config.slice(mount.mountPath.length + 1) in configMap.data,
        `${name}: ${options.config} is not a key of the ConfigMap`,
      );
      assert.ok(options.actors, `${name}: no --actors`);
      lists[name] = options.actors;

      const env = new Map<string, Loose>(container.env.map((e: Loose) => [e.name, e]));
      for (const variable of env.keys())
        assert.ok(known.has(variable), `${name}: Sluice does not read ${variable}`);
      const user = env.get('NATS_USER')?.value;
      assert.ok(natsUsers.has(user), `${name}: NATS user ${user} not in accounts.conf`);
      assert.equal(user, composeUsers.get(options.actors), `${name}: NATS user differs from compose`);
      assert.equal(env.get('NATS_PASSWORD')?.valueFrom?.secretKeyRef?.key, `${user}-password`);
      assert.equal(env.has(GATE_KEY_VARIABLE), needsGateKey(options.actors), `${name}: ${GATE_KEY_VARIABLE}`);
      const secrets = [
        'NATS_PASSWORD',
        ...(needsDatabase(options.actors) ? ['DATABASE_URL'] : []),
        ...(needsGateKey(options.actors) ? [GATE_KEY_VARIABLE] : []),
      ];
      for (const variable of secrets) {
        const ref = env.get(variable)?.valueFrom?.secretKeyRef;
        assert.ok(ref, `${name}: ${variable} must come from a Secret`);
        assert.ok(
          secretKeys.has(`${ref.name}/${ref.key}`),
          `${name}: secret ${ref.name}/${ref.key} not in the example`,
        );
      }
      // A credential file (the feed's *_FILE) is a key of a Secret of the example, mounted read-only.
      for (const [variable, entry] of env) {
        if (!variable.endsWith('_FILE')) continue;
        const mount = container.volumeMounts.find((m: Loose) => entry.value?.startsWith(`${m.mountPath}/`));
        assert.ok(mount?.readOnly, `${name}: ${variable} is not under a read-only volume mount`);
        const secret = pod.volumes.find((v: Loose) => v.name === mount.name)?.secret?.secretName;
        const key = entry.value.slice(mount.mountPath.length + 1);
        assert.ok(
          secretKeys.has(`${secret}/${key}`),
          `${name}: ${variable}: secret ${secret}/${key} not in the example`,
        );
      }
      assert.equal(deployment.spec.replicas, 1, `${name}: one instance per role`);
    }
    assertEveryActorOnce(lists, 'kubernetes');
  });

  it('the bootstrap Job: `sluice bootstrap` on the ConfigMap as admin, R3, password from the Secret', async () => {
    const jobs = resources.filter((r) => r.kind === 'Job');
    assert.deepEqual(
      jobs.map((job) => job.metadata.name),
      ['sluice-bootstrap'],
    );
    const pod = jobs[0].spec.template.spec;
    const container = pod.containers.find((c: Loose) => c.name === 'sluice');
    const options = await parseRunArgs(container.args, registerBootstrap);
    const mount = container.volumeMounts.find((m: Loose) => options.config.startsWith(`${m.mountPath}/`));
    const volume = pod.volumes.find((v: Loose) => v.name === mount?.name);
    assert.equal(volume?.configMap?.name, configMap.metadata.name, 'bootstrap config is not the ConfigMap');
    const env = new Map<string, Loose>(container.env.map((e: Loose) => [e.name, e]));
    assert.equal(env.get('NATS_USER')?.value, 'admin');
    const password = env.get('NATS_PASSWORD')?.valueFrom?.secretKeyRef;
    assert.ok(
      secretKeys.has(`${password?.name}/${password?.key}`),
      'admin password not in the example Secret',
    );
    assert.equal(password?.key, 'admin-password');
    assert.equal(env.get('SLUICE_STREAM_REPLICAS')?.value, '3');
  });

  it('probes, container port, scrape annotations and the Service use the run config http.port', () => {
    const service = resources.find((r) => r.kind === 'Service' && r.metadata.name === 'sluice');
    assert.ok(service, 'no sluice Service');
    for (const deployment of deployments) {
      const name = deployment.metadata.name;
      const template = deployment.spec.template;
      const container = template.spec.containers.find((c: Loose) => c.name === 'sluice');
      const portOf = (port: number | string): number =>
        typeof port === 'number' ? port : container.ports.find((p: Loose) => p.name === port)?.containerPort;
      assert.deepEqual(
        container.ports.map((p: Loose) => p.containerPort),
        [httpPort],
      );
      const probes = { livenessProbe: '/health', readinessProbe: '/ready', startupProbe: '/health' };
      for (const [probe, path] of Object.entries(probes)) {
        const get = container[probe]?.httpGet;
        if (probe === 'startupProbe' && get === undefined) continue;
        assert.ok(get, `${name}: no ${probe}`);
        assert.equal(get.path, path, `${name}: ${probe} path`);
        assert.equal(portOf(get.port), httpPort, `${name}: ${probe} port`);
      }
      const annotations = template.metadata.annotations;
      assert.equal(annotations['prometheus.io/scrape'], 'true');
      assert.equal(annotations['prometheus.io/port'], String(httpPort));
      assert.equal(annotations['prometheus.io/path'], '/metrics');
      for (const [key, value] of Object.entries(service.spec.selector)) {
        assert.equal(template.metadata.labels[key], value, `${name}: not selected by the Service`);
      }
      for (const port of service.spec.ports) assert.equal(portOf(port.targetPort), httpPort);
    }
  });

  it('NATS Helm values: 3-node JetStream cluster on files, the accounts of deploy/nats, passwords from the Secret', () => {
    const values: Loose = readYaml(join(k8sDir, 'nats-values.yaml'));
    assert.equal(values.config.cluster.enabled, true);
    assert.equal(values.config.cluster.replicas, 3);
    assert.equal(values.config.jetstream.enabled, true);
    assert.equal(values.config.jetstream.fileStore.enabled, true);
    const accounts = read(join(deployDir, 'nats', 'accounts.conf'));
    const includes = Object.entries(values.config.merge)
      .filter(([key]) => key.endsWith('$include'))
      .map(([, file]) => file as string);
    assert.ok(includes.length > 0, 'accounts are not included in nats.conf');
    for (const file of includes)
      assert.ok(file in values.configMap.merge.data, `${file} is not in the ConfigMap`);
    assert.equal(
      values.configMap.merge.data['accounts.conf'],
      accounts,
      'accounts.conf differs from deploy/nats',
    );
    const variables = [...accounts.matchAll(/:\s*\$([A-Z][A-Z0-9_]*)/g)].map((match) => match[1]!);
    assert.ok(variables.length >= natsUsers.size, 'accounts.conf reads no password variables');
    for (const variable of variables) {
      const ref = values.container.env[variable]?.valueFrom?.secretKeyRef;
      assert.ok(ref, `${variable} (accounts.conf) is not set from a Secret in container.env`);
      assert.ok(secretKeys.has(`${ref.name}/${ref.key}`), `secret ${ref.name}/${ref.key} not in the example`);
    }
    // The Sluice pods reach the chart's client Service (release `nats`).
    for (const deployment of deployments) {
      const env = deployment.spec.template.spec.containers[0].env.find((e: Loose) => e.name === 'NATS_URL');
      assert.equal(env?.value, 'nats://nats:4222');
    }
  });
});
