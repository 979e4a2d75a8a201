locals {
  name = "${var.name_prefix}-${var.environment}"

  # API functions and the routes API Gateway sends to each. Adding an
  # endpoint group: build its binary under functions/, add it here.
  http_functions = {
    "api-auth" = ["ANY /api/v1/auth/{proxy+}", "ANY /api/v1/admin/{proxy+}"]
    "api-mcps" = ["ANY /api/v1/mcps", "ANY /api/v1/mcps/{proxy+}"]
  }

  functions = merge(
    {
      for fn, _ in local.http_functions : fn => {
        memory  = var.api_memory_mb
        timeout = 29 # API Gateway waits at most 30 s
      }
    },
    {
      "job-worker" = {
        memory  = var.worker_memory_mb
        timeout = var.worker_timeout_seconds
      }
      "cron-scheduler" = {
        memory  = 256
        timeout = 60
      }
    },
  )

  common_env = merge(local.secret_env, {
    APP_ENV             = "production"
    LOG_FORMAT          = "json"
    LOG_LEVEL           = var.log_level
    CORS_ORIGINS        = join(",", var.cors_origins)
    TRUST_PROXY_HEADERS = "false"
    # Only /tmp is writable in Lambda.
    MCP_DATA_DIR        = "/tmp/mcp-platform"
    # The job queue: an https:// SQS queue URL selects the SQS adapter; the
    # queue's redrive policy names the dead-letter queue (jobs.tf).
    JOB_QUEUE_URL     = aws_sqs_queue.jobs.url
    JOB_MAX_ATTEMPTS  = tostring(var.job_max_attempts)
    JOB_LEASE_SECONDS = tostring(var.worker_timeout_seconds)
  })

  function_env = {
    for fn, _ in local.functions : fn => merge(
      local.common_env,
      fn == "job-worker" ? { WORKER_CONCURRENCY = tostring(var.worker_concurrency) } : {},
    )
  }
}

resource "aws_cloudwatch_log_group" "function" {
  for_each          = local.functions
  name              = "/aws/lambda/${local.name}-${each.key}"
  retention_in_days = var.log_retention_days
}

resource "aws_lambda_function" "function" {
  for_each = local.functions

  function_name    = "${local.name}-${each.key}"
  role             = aws_iam_role.function[each.key].arn
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = [var.architecture]
  filename         = "${var.artifacts_dir}/${each.key}.zip"
  source_code_hash = filebase64sha256("${var.artifacts_dir}/${each.key}.zip")
  memory_size      = each.value.memory
  timeout          = each.value.timeout

  environment {
    variables = local.function_env[each.key]
  }

  dynamic "vpc_config" {
    for_each = length(var.subnet_ids) > 0 ? [1] : []
    content {
      subnet_ids         = var.subnet_ids
      security_group_ids = var.security_group_ids
    }
  }

  depends_on = [
    aws_cloudwatch_log_group.function,
    aws_iam_role_policy_attachment.logs,
    aws_iam_role_policy.function,
  ]
}
