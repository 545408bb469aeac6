#  sqs_env.sh: the SQS emulator helpers the shell tests share (env from
#  `contrib/stack.sh env`). sqs ACTION JSON calls the emulator; create NAME
#  makes a queue, prints its URL and remembers it in queues for
#  delete_queues, which a test's exit trap calls; count URL prints
#  "visible/in flight".
queues=()
sqs () {
    curl -sS --max-time 10 -X POST "${AWS_ENDPOINT_URL_SQS:-http://0.0.0.0:1}/" \
        -H 'Content-Type: application/x-amz-json-1.0' \
        -H "X-Amz-Target: AmazonSQS.$1" -d "$2"
}
delete_queues () {
    for url in "${queues[@]}"; do
        sqs DeleteQueue "{\"QueueUrl\":\"$url\"}" >/dev/null 2>&1
    done
}
create () {
    local url
    url=$(sqs CreateQueue "{\"QueueName\":\"$1\"}" | jq -r .QueueUrl)
    [ -n "$url" ] && [ "$url" != null ] || bail_out "CreateQueue $1"
    queues+=("$url")
    echo "$url"
}
count () {
    sqs GetQueueAttributes "{\"QueueUrl\":\"$1\",\"AttributeNames\":[\"ApproximateNumberOfMessages\",\"ApproximateNumberOfMessagesNotVisible\"]}" |
        jq -r '.Attributes | "\(.ApproximateNumberOfMessages)/\(.ApproximateNumberOfMessagesNotVisible)"'
}
