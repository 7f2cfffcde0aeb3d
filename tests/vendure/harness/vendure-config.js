// The Vendure server the iluo-sync end-to-end tests talk to (test-only; started by
// tests/vendure/harness.py with NODE_PATH pointing at the npm cache folder).
//
// Everything that varies comes from the environment so one file serves every run:
//   VENDURE_PORT            port on 127.0.0.1 (the harness picks a free one)
//   VENDURE_SUPERADMIN      superadmin user name      (default: superadmin)
//   VENDURE_PASSWORD        superadmin password       (default: superadmin)
//   VENDURE_TOKEN_METHODS   comma list, default "bearer,api-key"; the harness leaves out
//                           "api-key" to show what a server that ignores API keys does
//   VENDURE_DB              "sqljs" (in memory, default) or a PostgreSQL URL
//   VENDURE_EXIT_WITH_PARENT "1": exit when the starting process dies (tests)
// Plain JavaScript on purpose: no TypeScript build step between npm install and boot.
'use strict';

const { bootstrap, dummyPaymentHandler, LogLevel, DefaultLogger } = require('@vendure/core');

function database() {
    const db = process.env.VENDURE_DB || 'sqljs';
    if (db === 'sqljs') {
        // In memory: every boot is a fresh shop and nothing is left behind on disk.
        return { type: 'sqljs', synchronize: true, logging: false, autoSave: false };
    }
    return { type: 'postgres', url: db, synchronize: true, logging: false };
}

const config = {
    apiOptions: {
        hostname: '127.0.0.1',
        port: Number(process.env.VENDURE_PORT || 3000),
        adminApiPath: 'admin-api',
        shopApiPath: 'shop-api',
    },
    authOptions: {
        tokenMethod: (process.env.VENDURE_TOKEN_METHODS || 'bearer,api-key').split(','),
        superadminCredentials: {
            identifier: process.env.VENDURE_SUPERADMIN || 'superadmin',
            password: process.env.VENDURE_PASSWORD || 'superadmin',
        },
        requireVerification: false,
    },
    dbConnectionOptions: database(),
    paymentOptions: { paymentMethodHandlers: [dummyPaymentHandler] },
    logger: new DefaultLogger({ level: LogLevel.Warn }),
    plugins: [],
};

// A safety net for the tests: when the process that started us dies without stopping us
// (a killed pytest), our parent changes — then we go too, instead of lingering.
if (process.env.VENDURE_EXIT_WITH_PARENT === '1') {
    const parent = process.ppid;
    setInterval(() => {
        if (process.ppid !== parent) process.exit(0);
    }, 1000).unref();
}

bootstrap(config).catch(err => {
    console.error(err);
    process.exit(1);
});
