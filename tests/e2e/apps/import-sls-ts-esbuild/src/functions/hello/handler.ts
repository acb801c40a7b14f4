import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { formatJSONResponse } from '@libs/api-gateway';

interface HelloBody {
  name: string;
}

export const main = async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
  const body: HelloBody = JSON.parse(event.body ?? '{}');
  return formatJSONResponse({
    message: `Hello ${body.name}, welcome to the exciting Serverless world!`,
    httpMethod: event.httpMethod,
    resource: event.resource,
    file: __filename.split('/').slice(-4).join('/'),
  });
};
