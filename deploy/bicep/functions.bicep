// keyrot serve as an Azure Functions custom handler on the Flex Consumption plan (FC1).
//
// Creates: a user-assigned managed identity (keyrot's Azure credential), a storage account
// (host storage, the deployment package container and the dead-letter container; shared keys
// off), a Log Analytics workspace and Application Insights (Entra-authenticated ingestion),
// the FC1 plan and the function app (runtime `custom`), and per vault: Key Vault Secrets
// Officer, the Event Grid system topic and, with subscribe=true, the subscription to the
// keyrot-events function. Two passes (deploy/README.md): subscribe=false, deploy the zip,
// then subscribe=true (Event Grid checks that the function exists).

@description('Azure region of the function app and its resources (one with Flex Consumption: az functionapp list-flexconsumption-locations).')
param location string = resourceGroup().location

@description('Prefix of resource names; 3-11 lowercase letters or digits.')
@minLength(3)
@maxLength(11)
param namePrefix string = 'keyrot'

@description('Name of the function app (globally unique host name).')
param functionAppName string = '${namePrefix}-${uniqueString(resourceGroup().id)}'

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

@description('Create the Event Grid subscriptions. Leave false for the first deployment; set true once the zip (with the keyrot-events function) is deployed.')
param subscribe bool = false

@description('Largest number of instances (Flex Consumption allows 40-1000). keyrot\'s Key Vault locks keep concurrent rotations of one credential apart.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Instance memory in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 512

@description('Log level of keyrot (KEYROT_LOG).')
param keyrotLog string = 'info'

@description('More app settings, e.g. KEYROT_TEAMS_WEBHOOK_URL for a [[notify]] channel. Secret: not shown in the deployment history.')
@secure()
param extraAppSettings object = {}

@description('Tags for every resource.')
param tags object = {}

// Built-in roles (deploy/README.md, "Roles"): the function app's host storage needs Storage
// Blob Data Owner on its own account (Functions' documented requirement for identity-based
// AzureWebJobsStorage; it also covers the deployment container in that account), and
// Application Insights ingestion with Entra needs Monitoring Metrics Publisher.
var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'

var suffix = uniqueString(resourceGroup().id, namePrefix)
var storageAccountName = take('st${namePrefix}${suffix}', 24)
var deploymentContainerName = 'app-package'
var deadLetterContainerName = 'keyrot-deadletter'

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-${namePrefix}'
  location: location
  tags: tags
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

    resource deploymentContainer 'containers' = {
      name: deploymentContainerName
    }

    resource deadLetterContainer 'containers' = {
      name: deadLetterContainerName
    }
  }
}

resource hostStorageOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwner)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    description: 'keyrot function app: host storage and deployment package'
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

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-${namePrefix}-${suffix}'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    DisableLocalAuth: true
  }
}

resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(insights.id, identity.id, monitoringMetricsPublisher)
  scope: insights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    description: 'keyrot function app: Application Insights ingestion'
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: 'plan-${namePrefix}-${suffix}'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

// On Flex Consumption the worker runtime is functionAppConfig.runtime (name `custom`, version
// `1.0`), not the FUNCTIONS_WORKER_RUNTIME app setting, which the plan refuses.
resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: functionAppName
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identity.id
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'custom'
        version: '1.0'
      }
    }
  }
  dependsOn: [
    hostStorageOwner
  ]

  resource appSettings 'config' = {
    name: 'appsettings'
    properties: union(extraAppSettings, {
      AzureWebJobsStorage__accountName: storage.name
      AzureWebJobsStorage__credential: 'managedidentity'
      AzureWebJobsStorage__clientId: identity.properties.clientId
      APPLICATIONINSIGHTS_CONNECTION_STRING: insights.properties.ConnectionString
      APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identity.properties.clientId};Authorization=AAD'
      // keyrot's Azure credential: the user-assigned identity (README.md, "Credentials").
      AZURE_CLIENT_ID: identity.properties.clientId
      AZURE_TENANT_ID: tenant().tenantId
      KEYROT_AUTH: 'managed-identity'
      KEYROT_LOG: keyrotLog
    })
  }
}

module vaultWiring 'modules/vault.bicep' = [
  for v in vaults: {
    name: 'keyrot-vault-${v.name}'
    params: {
      vault: v
      principalId: identity.properties.principalId
      subscribe: subscribe
      endpointType: 'AzureFunction'
      functionResourceId: '${functionApp.id}/functions/keyrot-events'
      deadLetterStorageAccountName: storage.name
      deadLetterContainerName: deadLetterContainerName
      tags: tags
    }
    dependsOn: [
      storage::blobService::deadLetterContainer
      functionApp::appSettings
    ]
  }
]

@description('Name of the function app (for az functionapp deploy).')
output functionAppName string = functionApp.name

@description('Client id of keyrot\'s managed identity (AZURE_CLIENT_ID).')
output identityClientId string = identity.properties.clientId

@description('Object id of keyrot\'s managed identity: grant it Graph\'s Application.ReadWrite.OwnedBy and app ownership when keyrot.toml has entra-app-password credentials.')
output identityPrincipalId string = identity.properties.principalId

@description('Storage account holding the deployment package and the dead-letter container.')
output storageAccountName string = storage.name

@description('Blob container of dead-lettered events.')
output deadLetterContainerName string = deadLetterContainerName
