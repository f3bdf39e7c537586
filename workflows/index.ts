/** Workflow entry points registered by the worker (`workflowsPath` points here). */
export { analysisTree } from './analysis-tree';
export { keyLease } from './key-lease-workflow';
