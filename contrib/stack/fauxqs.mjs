//  Start the fauxqs SQS emulator on loopback only, for contrib/stack.sh.
//  fauxqs's own CLI listens on 0.0.0.0 and names queues after the virtual
//  host sqs.<region>.localhost, which does not resolve here. We build the app
//  ourselves so it binds to FAUXQS_BIND (127.0.0.1) and, with host unset in
//  its store, hands out queue URLs on the address clients actually used
//  (http://127.0.0.1:PORT/000000000000/NAME): a C client can POST to the URL
//  it was given. The stores are not in the package's export map, so they are
//  imported by path; it is pinned in package-lock.json, and the check below
//  fails loudly if a different version moved them.
import { buildApp } from "fauxqs";
import { SqsStore } from "./node_modules/fauxqs/dist/sqs/sqsStore.js";
import { SnsStore } from "./node_modules/fauxqs/dist/sns/snsStore.js";
import { S3Store } from "./node_modules/fauxqs/dist/s3/s3Store.js";

const port = Number.parseInt(process.env.FAUXQS_PORT ?? "", 10);
const bind = process.env.FAUXQS_BIND ?? "127.0.0.1";
const region = process.env.AWS_REGION ?? "us-east-1";
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    console.error("fauxqs.mjs: FAUXQS_PORT must be a TCP port");
    process.exit(2);
}

const sqsStore = new SqsStore();
sqsStore.host = "";
if (typeof sqsStore.buildQueueUrl !== "function") {
    console.error("fauxqs.mjs: unexpected fauxqs internals; check its version");
    process.exit(2);
}
const app = buildApp({
    logger: process.env.FAUXQS_LOGGER === "true",
    defaultRegion: region,
    stores: { sqsStore, snsStore: new SnsStore(), s3Store: new S3Store() },
});

//  pg_ctl-style stop: SIGTERM closes the server and exits.
for (const signal of ["SIGTERM", "SIGINT"]) {
    process.on(signal, () => {
        app.close().then(() => process.exit(0), () => process.exit(1));
    });
}

try {
    const address = await app.listen({ port, host: bind });
    console.log(`fauxqs listening on ${address} region ${region}`);
} catch (err) {
    console.error(`fauxqs.mjs: cannot listen on ${bind}:${port}: ${err.message}`);
    process.exit(1);
}
