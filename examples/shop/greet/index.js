// POST /greet: a REST API (payload 1.0) handler echoing the JSON it is sent.
exports.handler = async (event) => {
  const body = event.body ? JSON.parse(event.body) : {};
  console.log('greeting', body.name);
  return {
    statusCode: 200,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ greeting: `hi ${body.name || 'there'}`, method: event.httpMethod }),
  };
};
