// A 3-node NATS JetStream cluster on loopback for fault tests: each node is a startNatsServer handle
// (own client port, cluster port and store dir), so a node can be stopped, SIGKILLed and restarted
// on the same ports and store while the other two keep quorum.
import { jetstreamManager } from '@nats-io/jetstream';
import { connectNats } from '../../streams/connection.ts';
import { type NatsServerHandle, startNatsServer } from './nats-server.ts';
import { freePort } from './ports.ts';

export interface NatsClusterNode extends NatsServerHandle {
  /** server_name, as JetStream reports it in stream cluster info (`n1`, `n2`, `n3`). */
  readonly name: string;
  readonly clusterPort: number;
}

export interface NatsClusterHandle {
  readonly nodes: readonly NatsClusterNode[];
  /** Every node's client URL, comma-separated, as connectNats and NATS_URL take them. */
  readonly urls: string;
  node(name: string): NatsClusterNode;
  dispose(): Promise<void>;
}

const CLUSTER_NAME = 'sluice';
const PROBE_STREAM = 'SLUICE_CLUSTER_PROBE';

export async function startNatsCluster(size = 3, readyTimeoutMs = 30_000): Promise<NatsClusterHandle> {
  const specs = await Promise.all(
    Array.from({ length: size }, async (_, index) => ({
      name: `n${index + 1}`,
      port: await freePort(),
      clusterPort: await freePort(),
    })),
  );
  const nodes: NatsClusterNode[] = [];
  try {
    // Started together: a node waits for its routes, and JetStream needs a quorum to elect a meta leader.
    const handles = await Promise.all(
      specs.map((spec) =>
        startNatsServer({
          port: spec.port,
          extraConfig: [
            `server_name: ${spec.name}`,
            'cluster {',
            `  name: ${CLUSTER_NAME}`,
            `  listen: 127.0.0.1:${spec.clusterPort}`,
            `  routes: [${specs
              .filter((other) => other !== spec)
              .map((other) => `nats-route://127.0.0.1:${other.clusterPort}`)
              .join(', ')}]`,
            '}',
          ].join('\n'),
        }),
      ),
    );
    handles.forEach((handle, index) => {
      const spec = specs[index];
      if (spec) nodes.push(Object.assign(handle, { name: spec.name, clusterPort: spec.clusterPort }));
    });
    const urls = nodes.map((node) => node.url).join(',');
    await waitForReplicatedJetStream(urls, size, readyTimeoutMs);
    return {
      nodes,
      urls,
      node: (name) => {
        const found = nodes.find((node) => node.name === name);
        if (!found) throw new Error(`no cluster node ${name}`);
        return found;
      },
      dispose: async () => {
        await Promise.all(nodes.map((node) => node.dispose()));
      },
    };
  } catch (error) {
    await Promise.all(nodes.map((node) => node.dispose()));
    throw error;
  }
}

/**
 * Resolves once a stream with `replicas` replicas can be created: the meta leader is elected and
 * enough peers have joined. Listening ports alone say nothing about either.
 */
async function waitForReplicatedJetStream(urls: string, replicas: number, timeoutMs: number): Promise<void> {
  const connection = await connectNats({ url: urls, name: 'sluice-cluster-probe' });
  const deadline = performance.now() + timeoutMs;
  let lastError: unknown;
  try {
    while (performance.now() < deadline) {
      try {
        // Created per try: it asks $JS.API.INFO first, which fails until the meta leader is elected.
        const manager = await jetstreamManager(connection, { timeout: 2_000 });
        await manager.streams.add({
          name: PROBE_STREAM,
          subjects: ['sluice.cluster.probe'],
          num_replicas: replicas,
        });
        await manager.streams.delete(PROBE_STREAM);
        return;
      } catch (error) {
        lastError = error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    throw new Error(`JetStream cluster not ready within ${timeoutMs} ms: ${String(lastError)}`);
  } finally {
    await connection.close();
  }
}
