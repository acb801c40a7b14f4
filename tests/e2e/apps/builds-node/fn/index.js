const fs = require("fs");
const path = require("path");
const ms = require("ms");

exports.handler = async () => {
  const root = process.env.LAMBDA_TASK_ROOT;
  return {
    statusCode: 200,
    body: JSON.stringify({
      twoDays: ms("2 days"),
      msFrom: require.resolve("ms"),
      root,
      modules: fs.readdirSync(path.join(root, "node_modules")).sort(),
    }),
  };
};
