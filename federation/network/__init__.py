"""The network between regions: CEN attachment of each member's VPC and inter-region bandwidth."""
