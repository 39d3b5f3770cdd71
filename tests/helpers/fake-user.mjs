// `node --import tests/helpers/fake-user.mjs …`: the process sees LOUPE_TEST_USER as the OS user name (os.userInfo),
// so a test can grep artifacts for a user name that cannot appear by accident (export-privacy.test.ts).
import os from 'node:os';
import { syncBuiltinESMExports } from 'node:module';

const real = os.userInfo;
os.userInfo = (options) => ({ ...real(options), username: process.env.LOUPE_TEST_USER ?? 'fake-user', homedir: process.env.HOME ?? '/' });
syncBuiltinESMExports();
