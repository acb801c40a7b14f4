'use strict';

module.exports.hello = async (event) => {
  return {
    statusCode: 200,
    body: JSON.stringify(
      {
        message: 'Go Serverless v3.0! Your function executed successfully!',
        path: event.rawPath,
        version: event.version,
      },
      null,
      2
    ),
  };
};
