/**
 * The run crate of a tree as RO-Crate metadata: a pure function of the collected facts
 * (client/crate/facts.ts), following the Provenance Run Crate profile 0.5
 * (https://w3id.org/ro/wfrun/provenance/0.5, with Workflow Run Crate 0.5, Process Run Crate 0.5,
 * Workflow RO-Crate 1.0 and RO-Crate 1.1). docs/crate.md has the table of what maps onto what:
 *
 * - the tree's spec (`spec.json`) is the main workflow: File + SoftwareSourceCode +
 *   ComputationalWorkflow + HowTo, each node one of its `step`s (HowToStep), each block it runs
 *   one of its tools (`hasPart`): the block's Python file, built-in or inline;
 * - every attempt of a node is a CreateAction (instrument = its block; object = its input files
 *   and parameter values; result = the published files with sha256; agent = the worker);
 * - the tree run is the workflow's CreateAction; the scheduler (the `analysisTree` Temporal
 *   workflow) is an OrganizeAction whose ControlActions are the node executions.
 *
 * Small output files are embedded (`outputs/<node>/...`); larger ones stay where they are and
 * are referenced by `file://` URI with their size and sha256.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Block } from '../../common/schemas';
import type { TimelineEntry } from '../../workflows/views';
import type { CrateFacts, FileFact, NodeFacts, OutputFileFact } from './facts';
import { provenanceText as describeProvenance, type Provenance } from '../../workflows/provenance';

/** Profile permalinks the crate conforms to. */
export const PROFILES = {
  roCrate: 'https://w3id.org/ro/crate/1.1',
  workflowRoCrate: 'https://w3id.org/workflowhub/workflow-ro-crate/1.0',
  process: 'https://w3id.org/ro/wfrun/process/0.5',
  workflow: 'https://w3id.org/ro/wfrun/workflow/0.5',
  provenance: 'https://w3id.org/ro/wfrun/provenance/0.5',
} as const;

/**
 * The JSON-LD context: RO-Crate 1.1, extended inline with the three terms it lacks that the
 * crate uses: `sha256` (schema.org's, as RO-Crate 1.2 maps it) and the workflow-run terms
 * `containerImage` / `ContainerImage` with the IRIs of https://w3id.org/ro/terms/workflow-run.
 * Inline rather than the remote workflow-run context: the same IRIs, and one document fewer
 * for a reader (or validator) to fetch.
 */
export const CRATE_CONTEXT: [string, Record<string, string>] = ['https://w3id.org/ro/crate/1.1/context', {
  sha256: 'http://schema.org/sha256',
  containerImage: 'https://w3id.org/ro/terms/workflow-run#containerImage',
  ContainerImage: 'https://w3id.org/ro/terms/workflow-run#ContainerImage',
}];

/** One JSON-LD entity. */
export type Entity = { '@id': string; '@type': string | string[] } & Record<string, unknown>;

/** A file to put into the crate: its path in the crate and where its bytes come from. */
export type CrateFile = { path: string; content: string } | { path: string; source: string; size: number };

/** Options of {@link buildCrate}. */
export interface BuildCrateOptions {
  /** Files larger than this are referenced by absolute `file://` URI instead of embedded. */
  embedMaxBytes: number;
  /** The crate's licence: a URL (becomes a contextual entity) or free text. */
  license: string;
}

/** The crate: its metadata document and the files it holds. */
export interface BuiltCrate {
  metadata: { '@context': typeof CRATE_CONTEXT; '@graph': Entity[] };
  files: CrateFile[];
  /** True when the tree was still running: the crate records an unfinished run. */
  incomplete: boolean;
  embedded: number;
  referenced: number;
}

const ref = (id: string) => ({ '@id': id });

/** ISO 8601 with an explicit UTC offset, the form Process Run Crate's checks ask for. */
function iso(t: string | Date): string {
  return new Date(t).toISOString().replace(/Z$/, '+00:00');
}

const ACTION_STATUS = {
  completed: 'http://schema.org/CompletedActionStatus',
  failed: 'http://schema.org/FailedActionStatus',
  active: 'http://schema.org/ActiveActionStatus',
} as const;

/** Media type by extension (the formats blocks write). */
function mediaType(name: string): string {
  const ext = path.extname(name).toLowerCase();
  const types: Record<string, string> = {
    '.h5ad': 'application/x-hdf5', '.h5': 'application/x-hdf5', '.json': 'application/json', '.png': 'image/png', '.jpg': 'image/jpeg',
    '.jpeg': 'image/jpeg', '.svg': 'image/svg+xml', '.csv': 'text/csv', '.tsv': 'text/tab-separated-values', '.txt': 'text/plain',
    '.log': 'text/plain', '.html': 'text/html', '.py': 'text/x-python', '.pdf': 'application/pdf',
  };
  return types[ext] ?? 'application/octet-stream';
}

/** schema.org data type of a parameter value (Workflow Run Crate's FormalParameter additionalType). */
function valueType(v: unknown): string {
  if (typeof v === 'boolean') return 'Boolean';
  if (typeof v === 'number') return Number.isInteger(v) ? 'Integer' : 'Float';
  if (typeof v === 'string') return 'Text';
  return 'PropertyValue';
}

/** One line saying who or what added a node, when, and why (workflows/provenance.ts words it). */
export function provenanceText(p: Provenance | undefined): string | null {
  return p ? `added by ${describeProvenance(p)}` : null;
}

/** What the cache did for a node, from the status (`cache`) or the published result. */
export function cacheText(n: NodeFacts): string | null {
  const c = n.status.cache;
  const from = c?.from ?? n.published?.cachedFrom ?? null;
  if (c?.hit || n.published?.cached) {
    return `reused a cached result${from ? ` (tree ${from.treeId}, node ${from.nodeId}, attempt ${from.attempt})` : ''}${c?.key ?? n.published?.cacheKey ? `, cache key ${c?.key ?? n.published?.cacheKey}` : ''}: nothing ran, the output files are hard links to the cached ones`;
  }
  if (c?.waitedFor) return `waited for the same work in tree ${c.waitedFor.treeId} node ${c.waitedFor.nodeId} (cache key ${c.key})`;
  if (c) return `computed (cache key ${c.key}, no cached result)`;
  return null;
}

/**
 * Builds the crate of a tree.
 * @param facts what {@link collectCrateFacts} gathered.
 */
export function buildCrate(facts: CrateFacts, options: BuildCrateOptions): BuiltCrate {
  const entities = new Map<string, Entity>();
  const files: CrateFile[] = [];
  let embedded = 0;
  let referenced = 0;
  /** Adds an entity; a second one with the same id only fills in keys the first lacks (lists grow through `push`). */
  const add = (e: Entity): Entity => {
    const prev = entities.get(e['@id']);
    if (!prev) {
      entities.set(e['@id'], e);
      return e;
    }
    for (const [k, v] of Object.entries(e)) if (prev[k] === undefined) prev[k] = v;
    return prev;
  };
  const push = (id: string, key: string, ...values: unknown[]) => {
    const e = entities.get(id);
    if (!e) return;
    const old = e[key];
    e[key] = uniqueRefs([...(old === undefined ? [] : Array.isArray(old) ? old : [old]), ...values]);
  };

  const { treeId, status } = facts;
  const running = facts.closeTime === null || status.state === 'RUNNING';
  const WF = 'spec.json';
  const specText = `${JSON.stringify(facts.spec, null, 2)}\n`;
  files.push({ path: WF, content: specText }, { path: 'status.json', content: `${JSON.stringify(status, null, 2)}\n` });

  // ---- descriptor, root, profiles ---------------------------------------------------------
  add({ '@id': 'ro-crate-metadata.json', '@type': 'CreativeWork', about: ref('./'), conformsTo: [ref(PROFILES.roCrate), ref(PROFILES.workflowRoCrate)] });
  const root = add({
    '@id': './', '@type': 'Dataset',
    name: `ragomics analysis tree ${treeId}`,
    description: [
      status.userRequest ? `User request: ${status.userRequest}` : `Analysis tree ${treeId}`,
      `State ${status.state} with ${status.totalNodes} node(s) (${Object.entries(status.counts).filter(([, c]) => c > 0).map(([s, c]) => `${c} ${s}`).join(', ')}).`,
      running ? 'INCOMPLETE: the tree was still running when this crate was exported; nodes that had not ended have no result yet.' : '',
    ].filter(Boolean).join(' '),
    datePublished: iso(facts.exportedAt),
    conformsTo: [ref(PROFILES.process), ref(PROFILES.workflow), ref(PROFILES.provenance), ref(PROFILES.workflowRoCrate)],
    mainEntity: ref(WF),
    hasPart: [ref(WF), ref('status.json')],
    mentions: [],
  });
  if (/^https?:\/\//.test(options.license)) {
    root.license = ref(options.license);
    add({ '@id': options.license, '@type': 'CreativeWork', name: options.license });
  } else {
    root.license = options.license;
  }
  for (const [id, name, version] of [
    [PROFILES.process, 'Process Run Crate', '0.5'], [PROFILES.workflow, 'Workflow Run Crate', '0.5'],
    [PROFILES.provenance, 'Provenance Run Crate', '0.5'], [PROFILES.workflowRoCrate, 'Workflow RO-Crate', '1.0'],
  ] as const) add({ '@id': id, '@type': 'CreativeWork', name, version });
  add({
    '@id': 'status.json', '@type': 'File', name: 'status.json', encodingFormat: 'application/json',
    description: 'The tree\'s status (`ragomics status --json`, with each node\'s block and dependencies) when the crate was exported.',
  });

  // ---- the workflow: the tree's spec --------------------------------------------------------
  add({
    '@id': WF, '@type': ['File', 'SoftwareSourceCode', 'ComputationalWorkflow', 'HowTo'],
    name: `Analysis tree ${treeId}`,
    description: 'The spec the tree was started with (ragomics TreeSpec). Nodes added while it ran (by a client, a rule, the policy endpoint, a block\'s suggestion, a fork) are steps of this workflow too; each step\'s description says who added it, when and why.',
    programmingLanguage: ref('#ragomics-tree-spec'),
    conformsTo: ref('https://bioschemas.org/profiles/ComputationalWorkflow/1.0-RELEASE'),
    version: `sha256:${createHash('sha256').update(specText).digest('hex')}`,
    encodingFormat: 'application/json', contentSize: String(Buffer.byteLength(specText)),
    hasPart: [], step: [], input: [], output: [],
  });
  add({
    '@id': '#ragomics-tree-spec', '@type': 'ComputerLanguage', name: 'ragomics tree spec', alternateName: 'ragomics',
    description: 'A JSON (or YAML) analysis tree: nodes, each running a function block on its parent\'s AnnData output (ragomics common/schemas.ts TreeSpec).',
  });
  add({ '@id': 'https://bioschemas.org/profiles/ComputationalWorkflow/1.0-RELEASE', '@type': 'CreativeWork', name: 'Bioschemas ComputationalWorkflow profile', version: '1.0-RELEASE' });
  add({ '@id': '#python', '@type': 'ComputerLanguage', name: 'Python', url: ref('https://www.python.org/') });

  // ---- the tree's own inputs --------------------------------------------------------------
  const inputId = new Map<string, string>();
  for (const [abs, f] of facts.inputs) {
    const id = pathToFileURL(abs).href;
    inputId.set(abs, id);
    add(fileEntity(id, path.basename(abs), f, 'A tree input, referenced where it is (inputs are never copied into the crate).'));
    push('./', 'hasPart', ref(id));
  }
  if (inputId.size > 0) {
    add({ '@id': `${WF}#input`, '@type': 'FormalParameter', additionalType: 'File', name: 'input', description: 'The tree\'s input AnnData file(s): inputDataPath, the cohort\'s samples, or a fork\'s origin output.', encodingFormat: 'application/x-hdf5' });
    push(WF, 'input', ref(`${WF}#input`));
    for (const id of inputId.values()) push(id, 'exampleOfWork', ref(`${WF}#input`));
  }

  // ---- engine, workers, images ------------------------------------------------------------
  add({
    '@id': '#ragomics', '@type': 'SoftwareApplication', name: 'ragomics', version: facts.engineVersion,
    description: 'Durable execution of single-cell analysis trees on Temporal: the `analysisTree` workflow schedules the nodes, workers run each node\'s block in a container.',
  });

  // ---- nodes: steps, tools, executions ----------------------------------------------------
  const mainOutputId = new Map<string, string>();
  const usedTools = new Set<string>();
  const controls: string[] = [];
  const nodeRuns: string[] = [];
  const dependedOn = new Set<string>();
  for (const n of facts.nodes) for (const d of n.status.dependencies ?? (n.status.parentId ? [n.status.parentId] : [])) dependedOn.add(d);

  // Output entities first: a child's object refers to its parent's output.
  for (const n of facts.nodes) {
    for (const o of n.outputs) {
      const isMain = o.abs === n.status.outputPath;
      const id = outputEntityId(n.status.id, o, options.embedMaxBytes);
      if (id.startsWith('file:')) {
        referenced++;
      } else {
        embedded++;
        files.push({ path: `outputs/${n.status.id}/${o.rel}`, source: o.abs, size: o.size });
      }
      add(fileEntity(id, o.rel, o, id.startsWith('file:')
        ? `Output of node ${n.status.id}, not embedded (${o.size} bytes > ${options.embedMaxBytes}): referenced by absolute path, with its sha256.`
        : `Output of node ${n.status.id}.`));
      push('./', 'hasPart', ref(id));
      if (isMain) mainOutputId.set(n.status.id, id);
    }
  }

  facts.nodes.forEach((n, index) => {
    const s = n.status;
    const block = n.block;
    const tool = block ? addTool(n, block) : null;
    const step = `#step-${s.id}`;
    const prov = provenanceText(s.provenance);
    add({
      '@id': step, '@type': 'HowToStep', name: s.id, position: String(index),
      description: [`Node ${s.id} runs ${s.block}${s.parentId ? ` on the output of ${s.parentId}` : ''}.`, prov ? `Provenance: ${prov}.` : ''].filter(Boolean).join(' '),
      ...(s.provenance ? { dateCreated: iso(s.provenance.at) } : {}),
      ...(tool ? { workExample: ref(tool) } : {}),
    });
    push(WF, 'step', ref(step));
    if (!tool || !block) return;

    // Inputs: the parent's (or every input node's) main output, else the tree's own input.
    const objects: string[] = [];
    const deps = s.inputs ?? s.dependencies ?? (s.parentId ? [s.parentId] : []);
    const inputNodes = s.inputs ?? (s.parentId ? [s.parentId] : []);
    for (const d of inputNodes) {
      const id = mainOutputId.get(d);
      if (id) objects.push(id);
    }
    if (deps.length === 0) {
      const sample = s.sample ? status.samples?.find((x) => x.sample === s.sample) : undefined;
      const origin = (facts.spec.origin as { outputPath?: string } | undefined)?.outputPath;
      const own = sample?.path ?? origin ?? (typeof facts.spec.inputDataPath === 'string' ? facts.spec.inputDataPath : undefined);
      const id = own ? inputId.get(path.resolve(own)) : undefined;
      if (id) objects.push(id);
    }
    if (objects.length > 0) {
      add({ '@id': `${tool}#in`, '@type': 'FormalParameter', additionalType: 'File', name: 'adata', description: 'Input AnnData (.h5ad): the parent node\'s output, or the tree\'s input for a root.', encodingFormat: 'application/x-hdf5' });
      push(tool, 'input', ref(`${tool}#in`));
      for (const id of objects) push(id, 'exampleOfWork', ref(`${tool}#in`));
    }
    for (const [name, value] of Object.entries(block.parameters ?? {})) {
      const fp = `${tool}#param-${name}`;
      const existing = entities.get(fp);
      const type = valueType(value);
      if (existing && existing.additionalType !== type) {
        existing.additionalType = [existing.additionalType, type].every((t) => t === 'Integer' || t === 'Float') ? 'Float' : 'PropertyValue';
      } else if (!existing) add({ '@id': fp, '@type': 'FormalParameter', additionalType: type, name });
      push(tool, 'input', ref(fp));
      const pv = `#param-${s.id}-${name}`;
      add({ '@id': pv, '@type': 'PropertyValue', name, value: typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? value : JSON.stringify(value), exampleOfWork: ref(fp) });
      objects.push(pv);
    }
    // Outputs: the AnnData, and every other file of the published folder.
    const results: string[] = [];
    for (const o of n.outputs) {
      const id = outputEntityId(s.id, o, options.embedMaxBytes);
      const main = o.abs === s.outputPath;
      const fp = main ? `${tool}#out` : `${tool}#files`;
      add(main
        ? { '@id': fp, '@type': 'FormalParameter', additionalType: 'File', name: 'output', description: 'Output AnnData (.h5ad), published read-only.', encodingFormat: 'application/x-hdf5' }
        : { '@id': fp, '@type': 'FormalParameter', additionalType: 'File', name: 'files', description: 'Further files of the published output folder: result.json, node-result.json, figures.' });
      push(tool, 'output', ref(fp));
      push(id, 'exampleOfWork', ref(fp));
      results.push(id);
    }

    // Executions: one CreateAction per attempt; the output belongs to the attempt that published it.
    const runs: string[] = [];
    const cache = cacheText(n);
    const events = (s.events ?? []).map((e) => `${e.kind} at ${e.at}: ${e.detail}`);
    const publishing = lastCompleted(n.attempts);
    const attempts: (TimelineEntry | null)[] = n.attempts.length > 0 ? n.attempts : s.state === 'COMPLETED' && n.published ? [null] : [];
    for (const a of attempts) {
      const run = `#run-${s.id}-${a ? a.attempt : 'cached'}`;
      const state = a ? a.state : 'COMPLETED';
      const ok = state === 'COMPLETED';
      const isPublisher = a === null || a === publishing;
      const started = a ? a.started : s.startedAt;
      const ended = a ? a.ended : s.endedAt;
      const worker = a?.worker ?? (isPublisher ? n.published?.worker : null) ?? null;
      const digest = isPublisher ? n.published?.imageDigest ?? null : null;
      add({
        '@id': run, '@type': 'CreateAction',
        name: `Run of ${s.block} for node ${s.id}${a ? ` (attempt ${a.attempt})` : ''}`,
        description: [
          `Node ${s.id}, ${a ? `attempt ${a.attempt}` : 'no attempt'}: ${state}.`,
          isPublisher && n.published?.summary ? `Summary: ${n.published.summary}.` : '',
          isPublisher && cache ? `Cache: ${cache}.` : '',
          prov ? `Provenance: ${prov}.` : '',
          a?.peakMemoryMB != null ? `Peak memory ${a.peakMemoryMB} MB.` : '',
          a?.exitCode != null ? `Exit code ${a.exitCode}.` : '',
        ].filter(Boolean).join(' '),
        instrument: ref(tool),
        object: objects.map(ref),
        ...(started ? { startTime: iso(started) } : {}),
        ...(ended ? { endTime: iso(ended) } : {}),
        actionStatus: ok ? ACTION_STATUS.completed : state === 'RUNNING' ? ACTION_STATUS.active : ACTION_STATUS.failed,
        ...(!ok && state !== 'RUNNING' ? { error: a?.error ?? s.error ?? state } : {}),
        ...(ok && isPublisher && results.length > 0 ? { result: results.map(ref) } : {}),
        ...(worker ? { agent: ref(`#worker-${worker}`) } : {}),
        ...(digest ? { containerImage: ref(imageId(digest)) } : {}),
      });
      if (worker) add({ '@id': `#worker-${worker}`, '@type': 'SoftwareApplication', name: `ragomics worker ${worker}`, version: facts.engineVersion });
      if (digest) add(imageEntity(digest));
      runs.push(run);
    }
    if (runs.length === 0) return;
    usedTools.add(tool);
    nodeRuns.push(...runs);
    const control = `#control-${s.id}`;
    const nodeOk = s.state === 'COMPLETED';
    const nodeRunning = !['COMPLETED', 'FAILED', 'TIMEOUT', 'CANCELLED'].includes(s.state);
    add({
      '@id': control, '@type': 'ControlAction', name: `orchestrate node ${s.id}`,
      description: [
        `Scheduling of node ${s.id}: ${s.state} after ${runs.length} attempt(s).`,
        prov ? `Provenance: ${prov}.` : '',
        cache ? `Cache: ${cache}.` : '',
        events.length > 0 ? `Events: ${events.join('; ')}.` : '',
      ].filter(Boolean).join(' '),
      instrument: ref(step), object: runs.map(ref),
      ...(s.startedAt ? { startTime: iso(s.startedAt) } : {}),
      ...(s.endedAt && !nodeRunning ? { endTime: iso(s.endedAt) } : {}),
      actionStatus: nodeOk ? ACTION_STATUS.completed : nodeRunning ? ACTION_STATUS.active : ACTION_STATUS.failed,
      ...(!nodeOk && !nodeRunning ? { error: s.error ?? s.state } : {}),
    });
    controls.push(control);
  });
  // Profile: the workflow lists as hasPart the tools it orchestrated, each referred to by an
  // action; a block that never ran in this tree keeps its step and code but is not listed.
  push(WF, 'hasPart', ...[...usedTools].map(ref));
  for (const t of usedTools) push('./', 'hasPart', ref(t));

  // ---- the tree run and the scheduler -----------------------------------------------------
  const leaves = facts.nodes.filter((n) => !dependedOn.has(n.status.id) && mainOutputId.has(n.status.id)).map((n) => mainOutputId.get(n.status.id)!);
  if (leaves.length > 0) {
    add({ '@id': `${WF}#output`, '@type': 'FormalParameter', additionalType: 'File', name: 'output', description: 'The output AnnData of every leaf node (a node no other node reads).', encodingFormat: 'application/x-hdf5' });
    push(WF, 'output', ref(`${WF}#output`));
    for (const id of leaves) push(id, 'exampleOfWork', ref(`${WF}#output`));
  }
  const failed = !running && status.state !== 'COMPLETED';
  const failures = facts.nodes.filter((n) => ['FAILED', 'TIMEOUT', 'CANCELLED'].includes(n.status.state));
  const treeError = failed ? `${status.state}: ${failures.length} node(s) did not complete${failures.length ? ` (${failures.slice(0, 10).map((n) => `${n.status.id} ${n.status.state}`).join(', ')}${failures.length > 10 ? ', ...' : ''})` : ''}` : null;
  const treeStatus = running ? ACTION_STATUS.active : failed ? ACTION_STATUS.failed : ACTION_STATUS.completed;
  add({
    '@id': '#tree-run', '@type': 'CreateAction', name: `Run of analysis tree ${treeId}`,
    description: `${status.userRequest ? `${status.userRequest}. ` : ''}${running ? 'Still running when exported (incomplete).' : `Ended ${status.state}.`}`,
    instrument: ref(WF),
    object: [...inputId.values()].map(ref),
    result: leaves.map(ref),
    startTime: iso(facts.startTime),
    ...(facts.closeTime ? { endTime: iso(facts.closeTime) } : {}),
    actionStatus: treeStatus,
    ...(treeError ? { error: treeError } : {}),
  });
  if (controls.length > 0) {
    add({
      '@id': '#organize', '@type': 'OrganizeAction', name: `Scheduling of tree ${treeId} by ragomics (Temporal workflow analysisTree)`,
      description: `maxParallelJobs ${status.maxParallelJobs}; ${status.runs} workflow run(s) (continue-as-new); metrics: ${JSON.stringify(status.metrics)}.`,
      instrument: ref('#ragomics'), object: controls.map(ref), result: ref('#tree-run'),
      startTime: iso(facts.startTime),
      ...(facts.closeTime ? { endTime: iso(facts.closeTime) } : {}),
      actionStatus: treeStatus,
      ...(treeError ? { error: treeError } : {}),
    });
  }
  root.mentions = ['#tree-run', ...nodeRuns, ...(controls.length > 0 ? ['#organize'] : [])].map(ref);

  // A README for people (Workflow RO-Crate recommends one about the crate).
  const readme = readmeText(facts, running);
  files.push({ path: 'README.md', content: readme });
  add({ '@id': 'README.md', '@type': 'File', name: 'README.md', about: ref('./'), encodingFormat: 'text/markdown', contentSize: String(Buffer.byteLength(readme)) });
  push('./', 'hasPart', ref('README.md'));

  return { metadata: { '@context': CRATE_CONTEXT, '@graph': [...entities.values()].map(compact) }, files, incomplete: running, embedded, referenced };

  /** The tool of a node's block: its Python file in the crate (one per built-in block, one per distinct inline code). */
  function addTool(n: NodeFacts, block: Block): string {
    const code = n.code;
    if (!code || (code.kind === 'builtin' && code.source === null)) {
      // The block's source is not beside this client (another version installed): a contextual entity.
      const id = `#block-${'name' in block ? block.name : 'inline'}`;
      add({ '@id': id, '@type': 'SoftwareSourceCode', name: 'name' in block ? block.name : 'inline block', programmingLanguage: ref('#python'), version: facts.engineVersion });
      return id;
    }
    const text = code.kind === 'builtin' ? code.source! : code.code;
    const sha = createHash('sha256').update(text).digest('hex');
    const id = code.kind === 'builtin' ? `blocks/${code.name}.py` : `blocks/inline-${sha.slice(0, 12)}.py`;
    if (!entities.has(id)) {
      files.push({ path: id, content: text });
      add({
        '@id': id, '@type': ['File', 'SoftwareSourceCode'],
        name: code.kind === 'builtin' ? code.name : `inline block ${sha.slice(0, 12)}`,
        description: code.kind === 'builtin'
          ? `Built-in function block "${code.name}" (ragomics_runner/blocks/${code.name}.py), run by the ragomics runner in the blocks image (the image digest is each run's containerImage).`
          : `Inline function block first run by node ${n.status.id}${code.requirements.length ? `; pip requirements: ${code.requirements.join(', ')}` : ''}.`,
        programmingLanguage: ref('#python'),
        version: code.kind === 'builtin' ? `ragomics ${facts.engineVersion}, sha256:${sha}` : `sha256:${sha}`,
        sha256: sha, contentSize: String(Buffer.byteLength(text)), encodingFormat: 'text/x-python',
      });
    }
    return id;
  }
}

/**
 * Crate id of an output file: its path in the crate when embedded (each segment URI-encoded, so a
 * figure named `a #1.png` is not read as a fragment), else its absolute `file://` URI.
 */
function outputEntityId(nodeId: string, o: OutputFileFact, embedMaxBytes: number): string {
  return o.size <= embedMaxBytes ? ['outputs', nodeId, ...o.rel.split('/')].map(encodeURIComponent).join('/') : pathToFileURL(o.abs).href;
}

function fileEntity(id: string, name: string, f: FileFact, description: string): Entity {
  return {
    '@id': id, '@type': 'File', name, description, encodingFormat: mediaType(name),
    ...(f.size >= 0 ? { contentSize: String(f.size) } : {}),
    ...(f.sha256 ? { sha256: f.sha256 } : {}),
  };
}

function imageId(digest: string): string {
  return `#image-${digest.replace(/^.*@/, '').replace(/[^A-Za-z0-9:._-]/g, '_')}`;
}

/** A Docker image from its digest (`repo@sha256:...` or a local `sha256:...` id). */
function imageEntity(digest: string): Entity {
  const at = digest.indexOf('@');
  const name = at > 0 ? digest.slice(0, at) : 'ragomics/blocks (local build)';
  const sha = (at > 0 ? digest.slice(at + 1) : digest).replace(/^sha256:/, '');
  return {
    '@id': imageId(digest), '@type': 'ContainerImage', additionalType: ref('https://w3id.org/ro/terms/workflow-run#DockerImage'),
    name, sha256: sha, description: `Docker image ${digest}`,
  };
}

function lastCompleted(attempts: TimelineEntry[]): TimelineEntry | null {
  for (let i = attempts.length - 1; i >= 0; i--) if (attempts[i]!.state === 'COMPLETED') return attempts[i]!;
  return null;
}

/**
 * RO-Crate 1.1's compact form: a list of one is written as the value itself, and an empty list
 * (an action without inputs, a workflow without outputs) is left out.
 */
function compact(e: Entity): Entity {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(e)) {
    if (Array.isArray(v) && v.length === 0) continue;
    out[k] = Array.isArray(v) && v.length === 1 ? v[0] : v;
  }
  return out as Entity;
}

/** The crate's README.md: what the run was, and every node with its state and origin. */
function readmeText(facts: CrateFacts, running: boolean): string {
  const { status } = facts;
  const cell = (t: string) => t.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const lines = [
    `# Analysis tree ${facts.treeId}`,
    '',
    ...(status.userRequest ? [`> ${cell(status.userRequest)}`, ''] : []),
    `A Workflow Run RO-Crate (Provenance Run Crate 0.5) exported by ragomics ${facts.engineVersion} on ${facts.exportedAt.toISOString()}.`,
    `The tree ${running ? 'was still RUNNING when exported: this is an unfinished run' : `ended ${status.state}`}; it started ${facts.startTime}${facts.closeTime ? ` and closed ${facts.closeTime}` : ''}.`,
    '',
    '`ro-crate-metadata.json` describes everything; `spec.json` is the spec the tree was started with, `status.json` its status at export,',
    '`blocks/` the code of every block that ran, `outputs/<node>/` the output files small enough to embed (larger ones are referenced by `file://` path with their sha256).',
    '',
    '| node | block | state | attempts | added |',
    '|---|---|---|---|---|',
    ...facts.nodes.map((n) => `| ${n.status.id} | ${cell(n.status.block)} | ${n.status.state} | ${n.attempts.length} | ${cell(provenanceText(n.status.provenance) ?? '')} |`),
    '',
  ];
  return lines.join('\n');
}

function isRef(v: unknown): boolean {
  return typeof v === 'object' && v !== null && '@id' in v;
}

/** Values without repeated `{ "@id" }` references. */
function uniqueRefs(values: unknown[]): unknown[] {
  const seen = new Set<string>();
  return values.filter((v) => {
    const key = isRef(v) ? `@${(v as { '@id': string })['@id']}` : JSON.stringify(v);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
