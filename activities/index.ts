/**
 * Public surface of the activities package: what workers wire and tests import.
 * Workflow code may import only *types* from here.
 */
export { createActivities, type Activities, type ActivityDeps, type RunNodeRequest } from './run-node';
export { cleanupOrphanContainers, removeContainersUnless, type OrphanFilter } from './cleanup';
export { memoryForAttempt, DEFAULT_MEMORY_GROWTH_FACTOR, MAX_MEMORY_MB } from '../common/memory';
export { publishAttempt, publishedDir, readPublished, sha256File, NODE_RESULT_FILE, OUTPUT_FILE } from './publish';
export { attemptPaths, nodeDir } from './workspace';
export * from './errors';
export { createDockerExecutor, type DockerExecutor, type DockerExecutorOptions } from './executors/docker';
export { containerLabels, containerSpec, MANAGED_LABEL } from './executors/docker-spec';
export { createLocalExecutor, resolveLocalPython, type LocalExecutorOptions } from './executors/local';
export { createInprocessExecutor } from './executors/inprocess';
export { readBlocksImageTag } from './executors/blocks-image';
export type * from './executors/types';
