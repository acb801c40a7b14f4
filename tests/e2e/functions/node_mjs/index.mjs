// An ES module handler returning a promise.
export const handler = (event) => Promise.resolve({ esm: true, got: event });
