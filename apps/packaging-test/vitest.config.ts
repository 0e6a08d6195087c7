import { packageTestConfig } from "../../vitest.shared.js";

// Packing and two `npm install`s from the registry take a while on slow machines.
export default packageTestConfig({ testTimeout: 240_000 });
