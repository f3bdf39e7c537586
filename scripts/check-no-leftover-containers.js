#!/usr/bin/env node
// After-suite check run by scripts/test.sh once `node --test` is done (not a test file, so it
// does not depend on file order): no container labelled ragomics.managed=true is left on the
// Docker engine, i.e. every test's attempts were removed on success, failure, timeout and
// cancellation, and dead workers' containers were cleaned up.
// Exit: 0 none left, 1 some left (listed), 3 the engine could not be asked.
'use strict';
const Docker = require('dockerode');

new Docker()
  .listContainers({ all: true, filters: JSON.stringify({ label: ['ragomics.managed=true'] }) })
  .then((left) => {
    if (left.length === 0) {
      console.log('== leftover containers: none labelled ragomics.managed=true');
      return;
    }
    console.log(`== leftover containers: ${left.length} labelled ragomics.managed=true remain`);
    for (const c of left) console.log(`  ${c.Names.join(',')} ${c.State} tree=${c.Labels['ragomics.tree']} node=${c.Labels['ragomics.node']}`);
    process.exitCode = 1;
  })
  .catch((e) => {
    console.error(`check-no-leftover-containers: cannot list the engine's containers: ${e.message}`);
    process.exitCode = 3;
  });
