// keyrot serve on Azure Container Apps: `keyrot serve --config /etc/keyrot/keyrot.toml`
// listening on 8080 behind external HTTPS ingress, answering Event Grid on /events.
//
// Creates: a user-assigned managed identity (keyrot's Azure credential), a Log Analytics
// workspace and a Container Apps environment, a storage account with the dead-letter
// container (shared keys off), the container app (keyrot.toml mounted from a secret volume,
// KEYROT_SERVE_KEY from a secure parameter, probes on /healthz, at least one replica), and
// per vault: Key Vault Secrets Officer, the Event Grid system topic and, with subscribe=true,
// a WebHook subscription to https://<fqdn>/events (Event Grid's validation handshake needs a
// running keyrot, hence the second pass; deploy/README.md).

@description('Azure region of the app and its resources.')
param location string = resourceGroup().location

@description('Prefix of resource names; 3-11 lowercase letters or digits.')
@minLength(3)
@maxLength(11)
param namePrefix string = 'keyrot'

@description('Container image with keyrot (deploy/container/Dockerfile), e.g. myregistry.azurecr.io/keyrot:1.2.3.')
param image string

@description('Name of an Azure Container Registry in this subscription that holds the image, pulled with the managed identity (AcrPull is granted on it). Empty: a public image.')
param acrName string = ''

@description('Resource group of that registry; default: this deployment\'s.')
param acrResourceGroup string = resourceGroup().name

@description('The text of keyrot.toml, mounted at /etc/keyrot/keyrot.toml (pass -p keyrotToml="$(cat keyrot.toml)"). Kept as a container app secret, hence secure.')
@secure()
param keyrotToml string

@description('KEYROT_SERVE_KEY: every /events request must carry ?key=<it>. At least 32 characters of [A-Za-z0-9] (it is put in a URL unencoded), e.g. openssl rand -hex 32. Empty only with entraAudience set.')
@secure()
param serveKey string = ''

@description('Entra-protected delivery: appId or App ID URI of the webhook app registration (KEYROT_SERVE_AUDIENCE). Empty: none.')
param entraAudience string = ''

@description('How often keyrot sweeps every credential besides events (KEYROT_SWEEP_EVERY; 0 = never).')
param sweepEvery string = '6h'

@description('The Key Vaults keyrot rotates in: name, resourceGroup (optional, default this group), credentials (the secret names in keyrot.toml), systemTopicName (optional: the vault\'s existing Event Grid system topic).')
@minLength(1)
param vaults {
  @description('Key Vault name.')
  name: string
  @description('Resource group of the vault; default: this deployment\'s.')
  resourceGroup: string?
  @description('Secret names ([[credential]] name in keyrot.toml) in this vault.')
  credentials: string[]
  @description('Name of the vault\'s existing Event Grid system topic, if any.')
  systemTopicName: string?
}[]

@description('Create the Event Grid subscriptions. Leave false for the first deployment; set true once https://<fqdn>/healthz answers.')
param subscribe bool = false

@description('Most replicas. Each replica also runs its own sweep timer; keyrot\'s Key Vault locks keep concurrent rotations of one credential apart.')
@minValue(1)
@maxValue(10)
param maxReplicas int = 2

@description('Log level of keyrot (KEYROT_LOG).')
param keyrotLog string = 'info'

@description('More environment variables, as secrets (name: value), e.g. {"KEYROT_TEAMS_WEBHOOK_URL": "https://..."} for a [[notify]] channel.')
@secure()
param extraSecretEnv object = {}

@description('Tags for every resource.')
param tags object = {}

// AcrPull (built-in role), on the registry only.
var acrPull = '7f951dda-4ed3-4680-a7ca-43fe172d538d'

var suffix = uniqueString(resourceGroup().id, namePrefix)
var storageAccountName = take('st${namePrefix}${suffix}', 24)
var deadLetterContainerName = 'keyrot-deadletter'
var useKey = !empty(serveKey)

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-${namePrefix}'
  location: location
  tags: tags
}

module registryPull 'modules/acrpull.bicep' = if (!empty(acrName)) {
  name: 'keyrot-acrpull'
  scope: resourceGroup(acrResourceGroup)
  params: {
    acrName: acrName
    principalId: identity.properties.principalId
    roleDefinitionId: acrPull
  }
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: storageAccountName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
  }

  resource blobService 'blobServices' = {
    name: 'default'

    resource deadLetterContainer 'containers' = {
      name: deadLetterContainerName
    }
  }
}

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-${namePrefix}-${suffix}'
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
  }
}

resource managedEnv 'Microsoft.App/managedEnvironments@2024-03-01' = {
  name: 'cae-${namePrefix}-${suffix}'
  location: location
  tags: tags
  properties: {
    appLogsConfiguration: {
      destination: 'log-analytics'
      logAnalyticsConfiguration: {
        customerId: workspace.properties.customerId
        sharedKey: workspace.listKeys().primarySharedKey
      }
    }
  }
}

var extraSecretNames = [for item in items(extraSecretEnv): 'env-${toLower(replace(item.key, '_', '-'))}']

var extraSecrets = [
  for (item, i) in items(extraSecretEnv): {
    name: extraSecretNames[i]
    value: item.value
  }
]

var keySecret = useKey
  ? [
      {
        name: 'keyrot-serve-key'
        value: serveKey
      }
    ]
  : []

var appSecrets = concat(
  [
    {
      name: 'keyrot-toml'
      value: keyrotToml
    }
  ],
  keySecret,
  extraSecrets
)

var baseEnv = [
  {
    name: 'AZURE_CLIENT_ID'
    value: identity.properties.clientId
  }
  {
    name: 'AZURE_TENANT_ID'
    value: tenant().tenantId
  }
  {
    name: 'KEYROT_AUTH'
    value: 'managed-identity'
  }
  {
    name: 'KEYROT_LOG'
    value: keyrotLog
  }
  {
    name: 'KEYROT_SERVE_LISTEN'
    value: '0.0.0.0:8080'
  }
  {
    name: 'KEYROT_SWEEP_EVERY'
    value: sweepEvery
  }
]

var keyEnv = useKey
  ? [
      {
        name: 'KEYROT_SERVE_KEY'
        secretRef: 'keyrot-serve-key'
      }
    ]
  : []

var entraEnv = empty(entraAudience)
  ? []
  : [
      {
        name: 'KEYROT_SERVE_AUDIENCE'
        value: entraAudience
      }
      {
        name: 'KEYROT_SERVE_TENANT'
        value: tenant().tenantId
      }
    ]

var extraEnv = [
  for (item, i) in items(extraSecretEnv): {
    name: item.key
    secretRef: extraSecretNames[i]
  }
]

resource app 'Microsoft.App/containerApps@2024-03-01' = {
  name: 'ca-${namePrefix}'
  location: location
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    managedEnvironmentId: managedEnv.id
    configuration: {
      activeRevisionsMode: 'Single'
      ingress: {
        external: true
        targetPort: 8080
        transport: 'http'
        allowInsecure: false
      }
      secrets: appSecrets
      registries: empty(acrName)
        ? []
        : [
            {
              server: '${acrName}${environment().suffixes.acrLoginServer}'
              identity: identity.id
            }
          ]
    }
    template: {
      containers: [
        {
          name: 'keyrot'
          image: image
          env: concat(baseEnv, keyEnv, entraEnv, extraEnv)
          resources: {
            cpu: json('0.25')
            memory: '0.5Gi'
          }
          volumeMounts: [
            {
              volumeName: 'config'
              mountPath: '/etc/keyrot'
            }
          ]
          probes: [
            {
              type: 'Startup'
              httpGet: {
                path: '/healthz'
                port: 8080
              }
              periodSeconds: 2
              failureThreshold: 30
            }
            {
              type: 'Liveness'
              httpGet: {
                path: '/healthz'
                port: 8080
              }
              periodSeconds: 30
              failureThreshold: 3
            }
            {
              type: 'Readiness'
              httpGet: {
                path: '/healthz'
                port: 8080
              }
              periodSeconds: 10
              failureThreshold: 3
            }
          ]
        }
      ]
      volumes: [
        {
          name: 'config'
          storageType: 'Secret'
          secrets: [
            {
              secretRef: 'keyrot-toml'
              path: 'keyrot.toml'
            }
          ]
        }
      ]
      scale: {
        minReplicas: 1
        maxReplicas: maxReplicas
        rules: [
          {
            name: 'http-events'
            http: {
              metadata: {
                concurrentRequests: '20'
              }
            }
          }
        ]
      }
    }
  }
  dependsOn: [
    registryPull
  ]
}

var fqdn = app.properties.configuration.ingress.fqdn

module vaultWiring 'modules/vault.bicep' = [
  for v in vaults: {
    name: 'keyrot-vault-${v.name}'
    params: {
      vault: v
      principalId: identity.properties.principalId
      subscribe: subscribe
      endpointType: 'WebHook'
      webhookUrl: useKey ? 'https://${fqdn}/events?key=${serveKey}' : 'https://${fqdn}/events'
      entraAudience: entraAudience
      deadLetterStorageAccountName: storage.name
      deadLetterContainerName: deadLetterContainerName
      tags: tags
    }
    dependsOn: [
      storage::blobService::deadLetterContainer
    ]
  }
]

@description('Host name of keyrot\'s ingress: https://<it>/healthz.')
output fqdn string = fqdn

@description('Client id of keyrot\'s managed identity (AZURE_CLIENT_ID).')
output identityClientId string = identity.properties.clientId

@description('Object id of keyrot\'s managed identity: grant it Graph\'s Application.ReadWrite.OwnedBy and app ownership when keyrot.toml has entra-app-password credentials.')
output identityPrincipalId string = identity.properties.principalId

@description('Storage account holding the dead-letter container.')
output storageAccountName string = storage.name

@description('Blob container of dead-lettered events.')
output deadLetterContainerName string = deadLetterContainerName
