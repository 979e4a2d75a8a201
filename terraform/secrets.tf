# One JSON secret holds every credential. The functions' environment holds
# only references (`secretsmanager://<arn>#<key>`), which the platform
# resolves once per cold start; values never appear in the Lambda
# configuration or its logs.

resource "random_password" "jwt" {
  length  = 64
  special = false
}

resource "aws_secretsmanager_secret" "app" {
  name                    = "${local.name}/app"
  description             = "MCP Platform credentials: jwt_secret, database_url and optional redis_url, mongodb_url, openai_api_key."
  recovery_window_in_days = var.secret_recovery_window_days
}

resource "aws_secretsmanager_secret_version" "app" {
  secret_id = aws_secretsmanager_secret.app.id
  secret_string = jsonencode({
    for key, value in {
      jwt_secret     = random_password.jwt.result
      database_url   = var.database_url
      redis_url      = var.redis_url
      mongodb_url    = var.mongodb_url
      openai_api_key = var.openai_api_key
    } : key => value if value != ""
  })

  # Rotating a value in the console or with the CLI must not be undone by
  # the next apply; new cold starts pick the new value up.
  lifecycle {
    ignore_changes = [secret_string]
  }
}

locals {
  secret_ref = "secretsmanager://${aws_secretsmanager_secret.app.arn}"

  # Settings read from the secret; optional ones only when given.
  secret_env = merge(
    {
      SECRET_KEY   = "${local.secret_ref}#jwt_secret"
      DATABASE_URL = "${local.secret_ref}#database_url"
    },
    var.redis_url == "" ? {} : { REDIS_URL = "${local.secret_ref}#redis_url" },
    var.mongodb_url == "" ? {} : { MONGODB_URL = "${local.secret_ref}#mongodb_url" },
    var.openai_api_key == "" ? {} : { OPENAI_API_KEY = "${local.secret_ref}#openai_api_key" },
  )
}
