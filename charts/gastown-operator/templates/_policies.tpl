{{/* The AgentReport owner policy (also manifests/base/admission-policy.yaml; a test keeps them equal). */}}
{{- define "gastown.agentReportPolicySpec" -}}
failurePolicy: Fail
matchConstraints:
  resourceRules:
    - apiGroups: ["gastown.dev"]
      apiVersions: ["v1alpha1"]
      operations: ["CREATE", "UPDATE"]
      resources: ["agentreports"]
matchConditions:
  - name: service-accounts-only
    expression: "request.userInfo.username.startsWith('system:serviceaccount:')"
validations:
  - expression: "request.userInfo.username == 'system:serviceaccount:' + request.namespace + ':' + object.spec.agent"
    messageExpression: "'an agent may only report as itself: ' + request.userInfo.username + ' cannot create a report for agent ' + object.spec.agent"
    reason: Forbidden
{{- end -}}

{{/*
The fences on the operator's own ServiceAccount: RBAC cannot restrict create/update by label or
by field, so these rules do. Matched only for requests made by the operator (username), on the
kinds its broad verbs cover. An object "is ours" when it carries app.kubernetes.io/managed-by=
gastown-operator and gastown.dev/agent=<its own name> (pods: the agent it runs as).
Input: (dict "username" U "namespace" operator-namespace "lease" leader-lease-name).
*/}}
{{- define "gastown.fencesPolicySpec" -}}
failurePolicy: Fail
matchConstraints:
  resourceRules:
    - apiGroups: [""]
      apiVersions: ["v1"]
      operations: ["CREATE", "UPDATE", "DELETE"]
      resources: ["pods"]
    - apiGroups: [""]
      apiVersions: ["v1"]
      operations: ["CREATE", "UPDATE"]
      resources: ["serviceaccounts"]
    - apiGroups: ["rbac.authorization.k8s.io"]
      apiVersions: ["v1"]
      operations: ["CREATE", "UPDATE"]
      resources: ["roles", "rolebindings"]
    - apiGroups: ["coordination.k8s.io"]
      apiVersions: ["v1"]
      operations: ["CREATE", "UPDATE"]
      resources: ["leases"]
matchConditions:
  - name: the-operator-only
    expression: {{ printf "request.userInfo.username == '%s'" .username | quote }}
variables:
  # The object as it is after the request (before it, for a delete).
  - name: obj
    expression: "request.operation == 'DELETE' ? oldObject : object"
  - name: ours
    expression: "has(variables.obj.metadata.labels) && 'app.kubernetes.io/managed-by' in variables.obj.metadata.labels && variables.obj.metadata.labels['app.kubernetes.io/managed-by'] == 'gastown-operator'"
  - name: agent
    expression: "has(variables.obj.metadata.labels) && 'gastown.dev/agent' in variables.obj.metadata.labels ? variables.obj.metadata.labels['gastown.dev/agent'] : ''"
  # An update may only change an object that was ours already.
  - name: wasOurs
    expression: "request.operation != 'UPDATE' || (has(oldObject.metadata.labels) && 'app.kubernetes.io/managed-by' in oldObject.metadata.labels && oldObject.metadata.labels['app.kubernetes.io/managed-by'] == 'gastown-operator' && 'gastown.dev/agent' in oldObject.metadata.labels && oldObject.metadata.labels['gastown.dev/agent'] == oldObject.metadata.name)"
  - name: identity
    expression: "variables.ours && variables.wasOurs && variables.agent != '' && variables.agent == variables.obj.metadata.name"
validations:
  - expression: "request.resource.resource != 'pods' || (variables.ours && variables.agent != '' && (request.operation == 'DELETE' || variables.obj.spec.serviceAccountName == variables.agent))"
    messageExpression: "'the gastown operator may only run session pods: labelled app.kubernetes.io/managed-by=gastown-operator and gastown.dev/agent=<agent>, with serviceAccountName <agent>; refused ' + request.operation + ' of pod ' + request.namespace + '/' + variables.obj.metadata.name"
    reason: Forbidden
  - expression: "!(request.resource.resource in ['serviceaccounts', 'roles']) || variables.identity"
    messageExpression: "'the gastown operator may only write the ServiceAccounts and Roles of agent identities it created (labelled app.kubernetes.io/managed-by=gastown-operator and gastown.dev/agent=<name>); refused ' + request.operation + ' of ' + request.resource.resource + ' ' + request.namespace + '/' + variables.obj.metadata.name"
    reason: Forbidden
  - expression: "request.resource.resource != 'rolebindings' || (variables.identity && variables.obj.roleRef.kind == 'Role' && variables.obj.roleRef.name == variables.agent && size(variables.obj.subjects) == 1 && variables.obj.subjects[0].kind == 'ServiceAccount' && variables.obj.subjects[0].name == variables.agent && (!has(variables.obj.subjects[0].namespace) || variables.obj.subjects[0].namespace == request.namespace))"
    messageExpression: "'the gastown operator may only bind an agent Role it generated to that agent ServiceAccount (RoleBinding, Role and ServiceAccount all named after the agent); refused RoleBinding ' + request.namespace + '/' + variables.obj.metadata.name + ' to ' + variables.obj.roleRef.kind + ' ' + variables.obj.roleRef.name"
    reason: Forbidden
  - expression: {{ printf "request.resource.resource != 'leases' || (request.namespace == '%s' && variables.obj.metadata.name == '%s') || variables.identity" .namespace .lease | quote }}
    messageExpression: {{ printf "'the gastown operator may only write its leader Lease %s/%s and agent heartbeat Leases (labelled app.kubernetes.io/managed-by=gastown-operator and gastown.dev/agent=<name>); refused ' + request.operation + ' of Lease ' + request.namespace + '/' + variables.obj.metadata.name" .namespace .lease | quote }}
    reason: Forbidden
{{- end -}}
