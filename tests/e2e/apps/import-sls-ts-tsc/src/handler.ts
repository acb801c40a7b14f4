import { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from 'aws-lambda';
import { greet } from './greeting';

export const hello = async (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyResultV2> => {
  const name: string = event.pathParameters?.name ?? 'nobody';
  return {
    statusCode: 200,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ message: greet(name), routeKey: event.routeKey, version: event.version }),
  };
};
