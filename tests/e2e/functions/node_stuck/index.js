const net = require('net');

exports.handler = async (event) => {
  // Connects to a database that never answers, and waits for it.
  await new Promise((resolve) => net.connect(event.port, '127.0.0.1', resolve));
  return 'never reached';
};
