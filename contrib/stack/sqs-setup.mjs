//  Create the ferry queues in the SQS emulator, as the monolith's
//  infrastructure would in AWS: the main queue ferry-events and its dead
//  letter queue ferry-events-dlq, wired by a redrive policy. CreateQueue is
//  idempotent for equal attributes, so contrib/stack.sh runs this on every
//  start. Prints the two queue URLs as "main URL" and "dlq URL" lines.
import {
    SQSClient, CreateQueueCommand, GetQueueAttributesCommand,
} from "@aws-sdk/client-sqs";

//  The SDK warns on Node.js 20 at every run; the stack pins Node 20 on purpose.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

const endpoint = process.env.AWS_ENDPOINT_URL_SQS;
const mainName = process.env.FERRY_SQS_QUEUE ?? "ferry-events";
const dlqName = process.env.FERRY_SQS_DLQ ?? `${mainName}-dlq`;
const maxReceiveCount = process.env.FERRY_SQS_MAX_RECEIVE ?? "5";
if (!endpoint) {
    console.error("sqs-setup.mjs: AWS_ENDPOINT_URL_SQS is not set");
    process.exit(2);
}

const sqs = new SQSClient({ endpoint, maxAttempts: 1 });
try {
    const dlq = await sqs.send(new CreateQueueCommand({ QueueName: dlqName }));
    const attrs = await sqs.send(new GetQueueAttributesCommand({
        QueueUrl: dlq.QueueUrl, AttributeNames: ["QueueArn"],
    }));
    const redrive = JSON.stringify({
        deadLetterTargetArn: attrs.Attributes.QueueArn,
        maxReceiveCount,
    });
    const main = await sqs.send(new CreateQueueCommand({
        QueueName: mainName,
        Attributes: { RedrivePolicy: redrive, VisibilityTimeout: "30" },
    }));
    console.log(`main ${main.QueueUrl}`);
    console.log(`dlq ${dlq.QueueUrl}`);
} catch (err) {
    console.error(`sqs-setup.mjs: ${err.name}: ${err.message}`);
    process.exit(1);
}
