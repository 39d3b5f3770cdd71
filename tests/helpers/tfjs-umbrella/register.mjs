// `node --import tests/helpers/tfjs-umbrella/register.mjs script.mjs`: runs a script written for the
// @tensorflow/tfjs umbrella package (the bundle's predict.mjs) with this repository's tfjs packages, and lets
// it find `sharp` from here, so the sample script shipped in bundles is tested as a user would run it.
import { register } from 'node:module';

register('./hooks.mjs', import.meta.url);
