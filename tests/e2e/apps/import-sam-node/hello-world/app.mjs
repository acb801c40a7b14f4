/**
 *
 * Event doc: https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html#api-gateway-simple-proxy-for-lambda-input-format
 * @param {Object} event - API Gateway Lambda Proxy Input Format
 *
 * Return doc: https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html
 * @returns {Object} object - API Gateway Lambda Proxy Output Format
 *
 */
// ES modules do not search NODE_PATH: a layer's package is imported by its path under /opt.
import { greet } from '/opt/nodejs/node_modules/greet/index.js';

export const lambdaHandler = async (event, context) => {
    const response = {
      statusCode: 200,
      body: JSON.stringify({
        message: 'hello world',
        greeting: greet('sam'),
        version: event.version ?? null,
        routeKey: event.routeKey ?? null,
        httpMethod: event.httpMethod ?? null,
        pathParameters: event.pathParameters ?? null,
      })
    };

    return response;
  };
