// A callback-style handler.
exports.handler = (event, context, callback) => {
  setTimeout(() => callback(null, { callback: true, n: event.n }), 10);
};
