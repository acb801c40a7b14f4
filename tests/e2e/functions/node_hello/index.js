// Async CommonJS handler whose behaviour the event chooses.
exports.handler = async (event, context) => {
  if (event.print) {
    for (let i = 0; i < event.print; i++) console.log(`${event.tag || 'line'} ${i}`);
  }
  if (event.sleep) await new Promise((r) => setTimeout(r, event.sleep * 1000));
  if (event.raise) throw new TypeError(event.raise);
  if (event.crash) process.exit(event.crash);
  return {
    event,
    pid: process.pid,
    instance: context.logStreamName,
    requestId: context.awsRequestId,
    functionName: context.functionName,
    functionVersion: context.functionVersion,
    invokedFunctionArn: context.invokedFunctionArn,
    memoryLimitInMB: context.memoryLimitInMB,
    remaining: context.getRemainingTimeInMillis(),
  };
};
