//  node_peer.mjs: the Node.js side of bench node_peer_drain (see
//  bench_node_peer.sh), run from the bench's npm cache directory, where
//  sqs-consumer, @aws-sdk/client-sqs and pg are installed. Talks to
//  AWS_ENDPOINT_URL_SQS and DATABASE_URL.
//
//    create NAME              a scratch queue; prints its URL
//    delete URL               delete it
//    produce URL N COMPANY    N audit.recorded events with fresh ids, with
//                             the AWS SDK for JS (SendMessageBatch in tens,
//                             16 at a time)
//    consume URL N CONSUMERS TABLE
//                             drain URL into TABLE as the old services
//                             did: CONSUMERS sqs-consumer Consumers in this
//                             process, handleMessageBatch with batches of
//                             10, one multi-row INSERT ... ON CONFLICT (id)
//                             DO NOTHING per batch (a pg Pool); once N
//                             rows are stored prints when the Consumers
//                             started (Unix ms) and the seconds from then
//                             to the commit that made N rows
import { randomUUID } from "node:crypto";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
const {
    SQSClient, CreateQueueCommand, DeleteQueueCommand, SendMessageBatchCommand,
} = await import("@aws-sdk/client-sqs");

const endpoint = process.env.AWS_ENDPOINT_URL_SQS;
if (!endpoint || !process.env.DATABASE_URL) {
    console.error("node_peer.mjs: AWS_ENDPOINT_URL_SQS and DATABASE_URL " +
        "must be set");
    process.exit(2);
}
const sqs = new SQSClient({ endpoint });

function event(company) {
    return {
        id: randomUUID(), type: "audit.recorded", version: 1,
        source: "bench", occurredAt: new Date().toISOString(),
        companyId: company, actorId: randomUUID(),
        payload: {
            action: "user.updated",
            target: { type: "user", id: randomUUID() },
            ip: "192.0.2.7", userAgent: "bench/1",
        },
    };
}

async function produce(url, n, company) {
    let next = 0;
    async function lane() {
        while (next < n) {
            const first = next;
            next = Math.min(n, next + 10);
            const entries = [];
            for (let i = first; i < next; i++)
                entries.push({
                    Id: `m${i}`, MessageBody: JSON.stringify(event(company)),
                });
            const out = await sqs.send(new SendMessageBatchCommand({
                QueueUrl: url, Entries: entries,
            }));
            if (out.Failed && out.Failed.length)
                throw new Error(`send failed: ${JSON.stringify(out.Failed)}`);
        }
    }
    await Promise.all(Array.from({ length: 16 }, lane));
}

//  The columns of audit.events, from the event as ferry-audit takes them.
const COLUMNS = ["id", "occurred_at", "type", "version", "source",
    "company_id", "actor_id", "correlation_id", "action", "target_type",
    "target_id", "ip", "user_agent", "payload", "changes"];

function row(e) {
    const p = e.payload ?? {};
    return [e.id, e.occurredAt, e.type, e.version, e.source, e.companyId,
        e.actorId ?? null, e.correlationId ?? null, p.action,
        p.target?.type ?? null, p.target?.id ?? null, p.ip ?? null,
        p.userAgent ?? null, JSON.stringify(p),
        p.changes === undefined ? null : JSON.stringify(p.changes)];
}

async function consume(url, n, consumers, table) {
    const { Consumer } = await import("sqs-consumer");
    const { default: pg } = await import("pg");
    const pool = new pg.Pool({
        connectionString: process.env.DATABASE_URL, max: consumers,
    });
    let stored = 0;
    const started = Date.now();
    const start = process.hrtime.bigint();
    let finish;
    const done = new Promise((resolve) => { finish = resolve; });
    const handleMessageBatch = async (messages) => {
        const values = [];
        const rows = messages.map((m, i) => {
            values.push(...row(JSON.parse(m.Body)));
            const at = i * COLUMNS.length;
            return "(" + COLUMNS.map((_, j) => `$${at + j + 1}`).join(",") +
                ")";
        });
        const result = await pool.query(
            `INSERT INTO ${table} (${COLUMNS.join(",")}) VALUES ` +
            rows.join(",") + " ON CONFLICT (id) DO NOTHING", values);
        stored += result.rowCount;
        if (stored >= n)
            finish(Number(process.hrtime.bigint() - start) / 1e9);
        return messages;
    };
    const list = [];
    for (let i = 0; i < consumers; i++) {
        const consumer = Consumer.create({
            queueUrl: url, sqs, batchSize: 10, waitTimeSeconds: 1,
            handleMessageBatch,
        });
        consumer.on("error", (err) => console.error(`consumer: ${err}`));
        consumer.on("processing_error",
            (err) => console.error(`processing: ${err}`));
        list.push(consumer);
        consumer.start();
    }
    const seconds = await done;
    for (const consumer of list)
        consumer.stop({ abort: true });
    await pool.end();
    console.log(`${started} ${seconds.toFixed(3)}`);
}

const [cmd, ...args] = process.argv.slice(2);
try {
    if (cmd === "create") {
        const out = await sqs.send(new CreateQueueCommand({
            QueueName: args[0], Attributes: { VisibilityTimeout: "30" },
        }));
        console.log(out.QueueUrl);
    }
    else if (cmd === "delete")
        await sqs.send(new DeleteQueueCommand({ QueueUrl: args[0] }));
    else if (cmd === "produce")
        await produce(args[0], Number(args[1]), args[2]);
    else if (cmd === "consume")
        await consume(args[0], Number(args[1]), Number(args[2]), args[3]);
    else {
        console.error(`node_peer.mjs: unknown command ${cmd}`);
        process.exit(2);
    }
    process.exit(0);
}
catch (err) {
    console.error(`node_peer.mjs ${cmd}: ${err.stack ?? err}`);
    process.exit(1);
}
