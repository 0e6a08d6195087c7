#!/usr/bin/env node
// The cpg-host command. Kept outside dist/ so that package managers can link
// it before the package is built.
import "../dist/cli/cpg-host.js";
