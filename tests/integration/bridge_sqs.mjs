//  bridge_sqs.mjs: the SQS side of the bridge tests, with the AWS SDK for
//  JavaScript as the monolith uses it (an independent client, not ferry's).
//  Talks to AWS_ENDPOINT_URL_SQS.
//
//    create NAME [VT_S [MAX_RECEIVE]]   scratch queue NAME and NAME-dlq with
//                                       a redrive policy; prints both URLs
//    delete URL...                      delete queues
//    golden URL DIR                     send every DIR/*.json, one message
//                                       each; prints the ids sent
//    generate URL N [TYPE]              send N events of TYPE (user.login)
//                                       with fresh ids; prints the ids (to a
//                                       FIFO queue, event i goes to group
//                                       "g<i % FIFO_GROUPS>", default 1 group)
//    trickle URL N MS                   send N events one at a time, MS
//                                       apart; prints "id sent-at" (Unix ms)
//                                       as each is sent
//    raw URL FILE...                    send each file's bytes as one body
//    count URL                          "visible invisible" (approximate)
//    peek URL                           receive everything visible, one JSON
//                                       line per message: MessageId, Body
//                                       length, ferry-* attributes, receive
//                                       count (messages become invisible)
import { createRequire } from "node:module";
import { randomUUID } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
//  The SDK comes with the stack (contrib/stack.sh env names its
//  node_modules), so a distcheck tree without node_modules finds it too.
const modules = process.env.FERRY_STACK_NODE_MODULES ??
    join(process.env.FERRY_SRCDIR ?? ".", "contrib/stack/node_modules");
const require = createRequire(join(modules, "..", "package.json"));
const sqsLib = require("@aws-sdk/client-sqs");
const {
    SQSClient, CreateQueueCommand, DeleteQueueCommand, SendMessageBatchCommand,
    GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand,
} = sqsLib;

const endpoint = process.env.AWS_ENDPOINT_URL_SQS;
if (!endpoint) {
    console.error("bridge_sqs.mjs: AWS_ENDPOINT_URL_SQS is not set");
    process.exit(2);
}
const sqs = new SQSClient({ endpoint });

//  SendMessageBatch in tens, as the monolith's producer does.
async function sendAll(url, bodies) {
    for (let i = 0; i < bodies.length; i += 10) {
        const entries = bodies.slice(i, i + 10).map((body, j) => {
            const entry = { Id: `m${i + j}`, MessageBody: body };
            if (url.endsWith(".fifo")) {
                const groups = Number(process.env.FIFO_GROUPS ?? "1");
                entry.MessageGroupId = `g${(i + j) % groups}`;
                entry.MessageDeduplicationId = randomUUID();
            }
            return entry;
        });
        const out = await sqs.send(new SendMessageBatchCommand({
            QueueUrl: url, Entries: entries,
        }));
        if (out.Failed && out.Failed.length)
            throw new Error(`send failed: ${JSON.stringify(out.Failed)}`);
    }
}

function generated(n, type) {
    const base = JSON.parse(readFileSync(join(process.env.FERRY_SRCDIR ?? ".",
        "tests/data/events/user.login.json"), "utf8"));
    const out = [];
    for (let i = 0; i < n; i++) {
        const event = { ...base, id: randomUUID(), type };
        out.push(event);
    }
    return out;
}

const [cmd, ...args] = process.argv.slice(2);
try {
    if (cmd === "create") {
        const [name, vt = "30", maxReceive = "5"] = args;
        const fifo = name.endsWith(".fifo");
        const dlqName = fifo ? name.replace(/\.fifo$/, "-dlq.fifo")
                             : `${name}-dlq`;
        const fifoAttrs = fifo ? { FifoQueue: "true" } : {};
        const dlq = await sqs.send(new CreateQueueCommand({
            QueueName: dlqName, Attributes: fifoAttrs,
        }));
        const attrs = await sqs.send(new GetQueueAttributesCommand({
            QueueUrl: dlq.QueueUrl, AttributeNames: ["QueueArn"],
        }));
        const main = await sqs.send(new CreateQueueCommand({
            QueueName: name,
            Attributes: {
                ...fifoAttrs,
                VisibilityTimeout: vt,
                RedrivePolicy: JSON.stringify({
                    deadLetterTargetArn: attrs.Attributes.QueueArn,
                    maxReceiveCount: maxReceive,
                }),
            },
        }));
        console.log(main.QueueUrl);
        console.log(dlq.QueueUrl);
    } else if (cmd === "delete") {
        for (const url of args)
            await sqs.send(new DeleteQueueCommand({ QueueUrl: url }));
    } else if (cmd === "golden") {
        const [url, dir] = args;
        const files = readdirSync(dir).filter((f) => f.endsWith(".json"))
            .sort();
        const bodies = files.map((f) => readFileSync(join(dir, f), "utf8"));
        await sendAll(url, bodies);
        for (const body of bodies)
            console.log(JSON.parse(body).id);
    } else if (cmd === "generate") {
        const [url, n, type = "user.login"] = args;
        const events = generated(Number(n), type);
        await sendAll(url, events.map((e) => JSON.stringify(e)));
        for (const event of events)
            console.log(event.id);
    } else if (cmd === "trickle") {
        const [url, n, ms] = args;
        for (const event of generated(Number(n), "user.login")) {
            const started = Date.now();
            await sqs.send(new SendMessageCommand({
                QueueUrl: url, MessageBody: JSON.stringify(event),
            }));
            console.log(`${event.id} ${Date.now()}`);
            const left = started + Number(ms) - Date.now();
            if (left > 0)
                await new Promise((resolve) => setTimeout(resolve, left));
        }
    } else if (cmd === "raw") {
        const [url, ...files] = args;
        await sendAll(url, files.map((f) => readFileSync(f, "utf8")));
    } else if (cmd === "count") {
        const out = await sqs.send(new GetQueueAttributesCommand({
            QueueUrl: args[0],
            AttributeNames: ["ApproximateNumberOfMessages",
                             "ApproximateNumberOfMessagesNotVisible"],
        }));
        console.log(`${out.Attributes.ApproximateNumberOfMessages} ` +
                    `${out.Attributes.ApproximateNumberOfMessagesNotVisible}`);
    } else if (cmd === "peek") {
        for (;;) {
            const out = await sqs.send(new ReceiveMessageCommand({
                QueueUrl: args[0], MaxNumberOfMessages: 10,
                WaitTimeSeconds: 0, VisibilityTimeout: 60,
                MessageAttributeNames: ["All"],
                MessageSystemAttributeNames: ["All"],
            }));
            if (!out.Messages || out.Messages.length === 0)
                break;
            for (const m of out.Messages) {
                const line = {
                    id: m.MessageId, bytes: m.Body.length,
                    receives: Number(m.Attributes?.ApproximateReceiveCount),
                };
                for (const [k, v] of Object.entries(m.MessageAttributes ?? {}))
                    line[k] = v.StringValue;
                console.log(JSON.stringify(line));
            }
        }
    } else {
        console.error(`bridge_sqs.mjs: unknown command ${cmd}`);
        process.exit(2);
    }
} catch (err) {
    console.error(`bridge_sqs.mjs ${cmd}: ${err.name}: ${err.message}`);
    process.exit(1);
}
