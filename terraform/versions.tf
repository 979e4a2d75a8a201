# The serverless shape of MCP Platform on AWS (docs/deploy-aws.md):
# API Gateway HTTP API -> one Lambda per endpoint group, SQS (+ DLQ) -> the
# job-worker Lambda, EventBridge -> the cron-scheduler Lambda, and the
# secrets in Secrets Manager, read once per cold start.

terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.40"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = merge({ Application = "mcp-platform", Environment = var.environment }, var.tags)
  }
}
