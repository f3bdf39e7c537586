#!/usr/bin/env node
// After-suite check run by scripts/test.sh once `node --test` is done (not a test file, so it
// does not depend on file order): no container labelled ragomics.managed=true is left on the
// Docker engine, i.e. every test's attempts were removed on success, failure, timeout and
// cancellation, and dead workers' containers were cleaned up.
// Exit: 0 none left, 1 some left (listed), 3 the engine could not be asked.
'use strict';
const Docker = require('dockerode');

// With RAGOMICS_CONTAINER_SCOPE set (scripts/test.sh sets it for the suite; every container a
// worker of the suite starts carries it as the label ragomics.scope), only the suite's own
// containers count: a demo or a benchmark on the same engine is not a leftover of the suite.
const scope = process.env.RAGOMICS_CONTAINER_SCOPE;
const labels = ['ragomics.managed=true', ...(scope ? [`ragomics.scope=${scope}`] : [])];
const what = labels.join(', ');

new Docker()
  .listContainers({ all: true, filters: JSON.stringify({ label: labels }) })
  .then((left) => {
    if (left.length === 0) {
      console.log(`== leftover containers: none labelled ${what}`);
      return;
    }
    console.log(`== leftover containers: ${left.length} labelled ${what} remain`);
    for (const c of left) console.log(`  ${c.Names.join(',')} ${c.State} tree=${c.Labels['ragomics.tree']} node=${c.Labels['ragomics.node']}`);
    process.exitCode = 1;
  })
  .catch((e) => {
    console.error(`check-no-leftover-containers: cannot list the engine's containers: ${e.message}`);
    process.exitCode = 3;
  });
