// Writes schemas/json/<name>.v<version>.json and schemas/asyncapi.json from the contracts in
// messages.ts and model-manifest.ts and the subject map in subjects.ts. `npm run schemas` rewrites them; a test fails when
// the files in the repo differ from what this produces.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jobSchemas } from './jobs.ts';
import { type MessageName, messageSchemas } from './messages.ts';
import { ModelManifest, modelManifestTag } from './model-manifest.ts';
import { type SubjectSpec, subjectSpecs } from './subjects.ts';

const schemasDir = dirname(fileURLToPath(import.meta.url));

type JsonObject = { [key: string]: unknown };

/** The plain JSON of a TypeBox schema (its symbol keys are dropped by JSON). */
function plainJson(schema: unknown): JsonObject {
  return JSON.parse(JSON.stringify(schema)) as JsonObject;
}

export function jsonSchemaFiles(): Map<string, string> {
  const files = new Map<string, string>();
  for (const schema of [...Object.values(messageSchemas), ...Object.values(jobSchemas)]) {
    const document = { $schema: 'http://json-schema.org/draft-07/schema#', ...plainJson(schema) };
    files.set(`json/${schema.properties.schema.const}.json`, `${JSON.stringify(document, null, 2)}\n`);
  }
  // Not a message on a subject (it travels in the model registry's object metadata), so it has a
  // JSON Schema for outside trainers but no place in the AsyncAPI document.
  const manifest = { $schema: 'http://json-schema.org/draft-07/schema#', ...plainJson(ModelManifest) };
  files.set(`json/${modelManifestTag}.json`, `${JSON.stringify(manifest, null, 2)}\n`);
  return files;
}

const parameterDescriptions: Record<string, string> = {
  partition: 'symbol partition: FNV-1a hash of the symbol modulo SLUICE_PARTITIONS (default 4)',
  symbol:
    'instrument symbol; characters a subject token cannot hold (. * > space ~ / \\) are written as ~XX hex',
  strategy: 'strategy name, encoded like a symbol',
  account: 'portfolio account, encoded like a symbol',
  venue: 'the venue the execution actor trades at (SIM, alpaca, a ccxt exchange id), encoded like a symbol',
  severity: 'info, warning or critical',
  code: 'alert code',
  actor: 'actor kind, e.g. risk',
  command: 'status, halt, resume, flatten, swap-model, …',
  original_subject: 'the full subject the message was on (several tokens)',
};

function channelParameters(address: string): JsonObject {
  const parameters: JsonObject = {};
  for (const match of address.matchAll(/\{([a-z_]+)\}/g)) {
    const name = match[1] ?? '';
    parameters[name] = { description: parameterDescriptions[name] ?? name };
  }
  return parameters;
}

function messageRef(name: MessageName): JsonObject {
  return { $ref: `#/components/messages/${name}` };
}

export function asyncApiDocument(): JsonObject {
  const channels: JsonObject = {};
  const operations: JsonObject = {};
  for (const [channelName, spec] of Object.entries(subjectSpecs) as [string, SubjectSpec][]) {
    const requestOnly = spec.messages.filter((name) => name !== 'control_reply');
    channels[channelName] = {
      address: spec.address,
      description: `${spec.description}${spec.stream ? ` Kept by the ${spec.stream} stream.` : ' Request/reply; no stream keeps it.'}`,
      parameters: channelParameters(spec.address),
      messages: Object.fromEntries(requestOnly.map((name) => [name, messageRef(name)])),
    };
    const channelRef = { $ref: `#/channels/${channelName}` };
    const messageRefs = requestOnly.map((name) => ({ $ref: `#/channels/${channelName}/messages/${name}` }));
    if (channelName === 'control') {
      operations.sendControlCommand = {
        action: 'send',
        summary: 'Operators send a command and get a control_reply on the request inbox.',
        channel: channelRef,
        messages: messageRefs,
        reply: {
          address: { location: '$message.header#/reply_to', description: 'the NATS request inbox' },
          channel: { $ref: '#/channels/controlReply' },
          messages: [{ $ref: '#/channels/controlReply/messages/control_reply' }],
        },
      };
    } else {
      operations[`publish_${channelName}`] = { action: 'send', channel: channelRef, messages: messageRefs };
      operations[`consume_${channelName}`] = {
        action: 'receive',
        channel: channelRef,
        messages: messageRefs,
      };
    }
  }
  channels.controlReply = {
    address: null,
    description: 'The reply inbox of a control request (dynamic).',
    messages: { control_reply: messageRef('control_reply') },
  };

  const messages: JsonObject = {};
  const schemas: JsonObject = {};
  for (const [name, schema] of Object.entries(messageSchemas)) {
    const { $id: _id, ...payload } = plainJson(schema);
    schemas[name] = payload;
    messages[name] = {
      name,
      title: name,
      summary: schema.description,
      contentType: 'application/json',
      headers: {
        type: 'object',
        properties: {
          'Nats-Msg-Id': { type: 'string', description: 'the event id; duplicates are dropped' },
        },
      },
      payload: { $ref: `#/components/schemas/${name}` },
    };
  }

  return {
    asyncapi: '3.0.0',
    info: {
      title: 'Sluice',
      version: '0.1.0',
      description:
        'Subjects and message contracts of Sluice. Payloads are JSON; ts_event and ts_init are integer epoch milliseconds; every message carries a deterministic id, sent as Nats-Msg-Id.',
      license: { name: 'Apache-2.0' },
    },
    defaultContentType: 'application/json',
    servers: {
      local: { host: '127.0.0.1:4222', protocol: 'nats', description: 'A local nats-server with JetStream' },
    },
    channels,
    operations,
    components: { messages, schemas },
  };
}

export function generatedFiles(): Map<string, string> {
  const files = jsonSchemaFiles();
  files.set('asyncapi.json', `${JSON.stringify(asyncApiDocument(), null, 2)}\n`);
  return files;
}

export function schemasDirectory(): string {
  return schemasDir;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const [relative, content] of generatedFiles()) {
    const path = join(schemasDir, relative);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, content);
  }
  console.log(`wrote ${generatedFiles().size} files under schemas/`);
}
